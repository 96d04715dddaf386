// @ts-check
// The console's CSV import against the real POST /v1/import (all or nothing): a file with one
// bad row shows the server's error beside that row and imports nothing; the corrected file
// imports everyone, and a sign-in link it gives signs that person into the app.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHONE, Server, newPage, shot, withOwnerConsole } from './harness.mjs';

const server = new Server();
let browser, admin, owner;

withOwnerConsole(server, (s) => ({ owner, browser, page: admin } = s));

// Everything an import could have touched.
async function people() {
  const users = (await server.list('users', owner)).map((u) => u.email).sort();
  const groups = (await server.list('groups', owner)).map((g) => g.name).sort();
  return { users, groups };
}

async function choose(name, text) {
  await admin.getByLabel('CSV file').setInputFiles({ name, mimeType: 'text/csv', buffer: Buffer.from(text) });
}

// Row 3 (Bo) has no valid email; Cy's role is capitalized as spreadsheets do (that is fine).
const BAD = '\ufeffname,email,role,groups,password\r\nAna Ruiz,ana@import.test,member,Cleaners;Night staff,\r\nBo Lee,bo-at-import.test,member,,\r\nCy Diaz,cy@import.test,Admin,,a long secret\r\n';
const GOOD = BAD.replace('bo-at-import.test', 'bo@import.test');

test('a CSV with one bad row shows the error beside that row and imports nothing', async () => {
  await admin.getByRole('link', { name: 'Import', exact: true }).click();
  await admin.getByRole('heading', { level: 1, name: 'Import people' }).waitFor();
  const before = await people();
  await choose('people.csv', BAD);
  // Before importing: what the file holds, row by row, and the new groups it names.
  await admin.getByText('people.csv: 3 people, and new groups Cleaners, Night staff.').waitFor();
  await admin.locator('table.import-rows tr[data-row="4"]', { hasText: 'Cy Diaz' }).waitFor();
  await admin.getByRole('button', { name: 'Import', exact: true }).click();
  const bad = admin.locator('table.import-rows tr.invalid[data-row="3"]');
  await bad.waitFor();
  assert.match(await bad.innerText(), /Bo Lee/);
  assert.match(await bad.locator('[data-column="email"]').innerText(), /^email: email is an address like/);
  // Only the row at fault is listed, and the message says nothing was imported.
  assert.equal(await admin.locator('table.import-rows tbody tr').count(), 1);
  await admin.getByText('1 row has an error: nothing was imported. Fix the file and choose it again.').waitFor();
  await shot(admin, 'console-import-error');
  assert.deepEqual(await people(), before);
});

test('the corrected file imports everyone, with their groups, roles and sign-in links', async () => {
  await choose('people-fixed.csv', GOOD);
  await admin.getByRole('button', { name: 'Import', exact: true }).click();
  await admin.getByText('Imported 3 people and 2 new groups.').waitFor();
  const after = await people();
  for (const e of ['ana@import.test', 'bo@import.test', 'cy@import.test']) assert.ok(after.users.includes(e), e);
  assert.deepEqual(after.groups, ['Cleaners', 'Night staff']);
  const users = await server.list('users', owner);
  const groups = await server.list('groups', owner);
  const ana = users.find((u) => u.email === 'ana@import.test');
  assert.deepEqual(ana.group_ids.map((id) => groups.find((g) => g.id === id).name).sort(), ['Cleaners', 'Night staff']);
  assert.equal(users.find((u) => u.email === 'cy@import.test').role, 'admin');
  // Cy has a password; Ana and Bo get a one-time link each.
  assert.equal(await server.api('POST', '/v1/auth/login', { email: 'cy@import.test', password: 'a long secret' }).then((r) => r.status), 200);
  const links = admin.locator('td[data-label="Link"] code');
  assert.equal(await links.count(), 2);
  await shot(admin, 'console-import-done');
  const anaLink = (await admin.locator('tr', { hasText: 'Ana Ruiz' }).locator('code').innerText()).trim();
  assert.match(anaLink, new RegExp(`^${server.url}/app/#code=psi_`));
  // The link signs Ana into the app (a member: no doors yet, and she may set a password).
  const phone = await newPage(browser, PHONE);
  await phone.goto(anaLink);
  await phone.getByText('You have no doors yet.').waitFor();
  await phone.getByRole('button', { name: 'Ana Ruiz' }).waitFor();
  assert.equal(await phone.locator('[data-guest]').count(), 0);
  assert.deepEqual(phone.problems, []);
  assert.deepEqual(admin.problems, []);
});
