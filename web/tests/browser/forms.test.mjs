// @ts-check
// Bad input in each console form shows the API's error beside the field at fault and changes
// nothing (checked through the API); a name that is HTML is shown as text everywhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHONE, Server, appLogin, newPage, shot, waitFor, withOwnerConsole } from './harness.mjs';

const server = new Server();
let browser, page, owner;

// Everything the owner can read, to compare before and after a refused change.
async function digest() {
  const parts = [];
  for (const p of ['sites', 'doors', 'units', 'users', 'schedules', 'grants']) parts.push(JSON.stringify(await server.list(p, owner)));
  const audit = await server.api('GET', '/v1/audit?limit=500', undefined, owner);
  parts.push(JSON.stringify(audit.body.items.filter((e) => !e.action.startsWith('unit.'))));
  return parts.join('\n');
}

withOwnerConsole(server, (s) => ({ owner, browser, page } = s));

// Opens a view's "New …" form (or a row's Edit), fills it, saves, and expects the error beside
// `label`, the dialog still open, and the server unchanged.
async function refused(view, open, fill, label, message) {
  await page.getByRole('link', { name: view, exact: true }).click();
  const before = await digest();
  await open();
  const dialog = page.getByRole('dialog');
  try {
    await check(dialog, before);
  } finally {
    if (await dialog.isVisible()) await page.keyboard.press('Escape');
  }
  async function check(dialog, before) {
  await fill(dialog);
  await dialog.getByRole('button', { name: /^(Create|Save)$/ }).click();
  const field = dialog.locator('.field.invalid', { has: page.getByText(label, { exact: true }) });
  await field.waitFor();
  assert.match(await field.locator('.field-error').innerText(), message);
  assert.equal(await dialog.isVisible(), true);
  assert.equal(await digest(), before, `${view}: the server changed`);
  await shot(page, `console-form-${view.toLowerCase()}`);
  }
}

const create = (name) => () => page.getByRole('button', { name }).click();

test('sites: a time zone that does not exist', () =>
  refused('Sites', create('New site'), async (d) => {
    await d.getByLabel('Name').fill('Mars base');
    await d.getByLabel('Time zone').fill('Mars/Base');
  }, 'Time zone', /IANA/));

test('doors: a relay pulse out of range', () =>
  refused('Doors', create('New door'), async (d) => {
    await d.getByLabel('Name').fill('Back door');
    await d.getByLabel('Relay pulse (ms)').fill('5');
  }, 'Relay pulse (ms)', /100/));

test('doors (edit): an empty name', () =>
  refused('Doors', () => page.locator('tr', { has: page.getByRole('cell', { name: 'Garage', exact: true }) }).getByRole('button', { name: 'Edit' }).click(), async (d) => {
    await d.getByLabel('Name').fill('');
  }, 'Name', /name/));

test('units: no name', () =>
  refused('Units', create('New unit'), async () => {}, 'Name', /name/));

test('users: an email that is not one, and a short password', async () => {
  await refused('Users', create('New user'), async (d) => {
    await d.getByLabel('Name').fill('Lee');
    await d.getByLabel('Email').fill('not-an-email');
    await d.getByLabel('Password').fill('a long password');
  }, 'Email', /address/);
  await refused('Users', create('New user'), async (d) => {
    await d.getByLabel('Name').fill('Lee');
    await d.getByLabel('Email').fill('lee@example.com');
    await d.getByLabel('Password').fill('short');
  }, 'Password', /8/);
});

test('schedules: a window ending at 25:00', () =>
  refused('Schedules', create('New schedule'), async (d) => {
    await d.getByLabel('Name', { exact: true }).fill('Late');
    await d.getByRole('button', { name: 'Add a window', exact: true }).click();
    await d.getByLabel('Until').first().fill('25:00');
  }, 'Until', /./));

test('grants: a use limit of zero', () =>
  refused('Grants', create('New grant'), async (d) => {
    await d.getByLabel('Person').selectOption({ label: 'Joan' });
    await d.getByLabel('Door').selectOption({ index: 1 });
    await d.getByLabel('Use limit').fill('0');
  }, 'Use limit', /./));

test('groups: a name another group has', async () => {
  assert.equal((await server.api('POST', '/v1/groups', { name: 'Night staff' }, owner)).status, 201);
  await refused('Groups', create('New group'), async (d) => {
    await d.getByLabel('Name').fill('night STAFF');
  }, 'Name', /already exists/);
});

test('units: revoking a credential asks first, then revokes it', async () => {
  await page.getByRole('link', { name: 'Units', exact: true }).click();
  await page.locator('tr', { hasText: 'Front door unit' }).getByRole('button', { name: 'Revoke credential' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  const audit = async () => (await server.api('GET', '/v1/audit?kind=unit.credentials_revoked', undefined, owner)).body.items.length;
  assert.equal(await audit(), 0);
  await page.locator('tr', { hasText: 'Front door unit' }).getByRole('button', { name: 'Revoke credential' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await waitFor(async () => (await audit()) === 1, 'the revocation in the audit log');
});

test('a user named <img src=x onerror=alert(1)> is shown as text everywhere', async () => {
  const evil = '<img src=x onerror=alert(1)>';
  const u = await server.api('POST', '/v1/users', { email: 'evil@demo.portier.dev', name: evil, password: 'evil-password-1' }, owner);
  assert.equal(u.status, 201);
  server.logins['evil@demo.portier.dev'] = 'evil-password-1';
  const doors = await server.list('doors', owner);
  const front = doors.find((d) => d.name === 'Front door');
  assert.equal((await server.api('POST', '/v1/grants', { user_id: u.body.id, door_id: front.id, max_uses: 3 }, owner)).status, 201);
  const token = await server.login('evil@demo.portier.dev');
  // A denied open of another door: her name in the live list.
  const garage = doors.find((d) => d.name === 'Garage');
  assert.equal((await server.api('POST', `/v1/doors/${garage.id}/open`, {}, token)).status, 403);
  const phone = await newPage(browser, PHONE);
  await appLogin(phone, server, 'evil@demo.portier.dev');
  await phone.getByRole('button', { name: evil }).waitFor();
  for (const [view, where] of [
    ['Live', 'li.event'],
    ['Users', 'tr'],
    ['Grants', 'tr'],
    ['Devices', 'tr'],
    ['Audit log', 'tr'],
  ]) {
    await page.getByRole('link', { name: view, exact: true }).click();
    await waitFor(async () => (await page.locator(where, { hasText: evil }).count()) > 0, `${view} to show the name as text`);
  }
  await page.getByRole('link', { name: 'Access check', exact: true }).click();
  await page.getByLabel('Person').selectOption({ label: evil });
  for (const p of [page, phone]) {
    assert.equal(await p.locator('img[src="x"]').count(), 0);
    assert.deepEqual(p.problems, []); // no alert dialog, no script error
  }
  assert.equal(await page.evaluate(() => document.querySelectorAll('img').length), 0);
});
