// @ts-check
// Guest invitations (issue 9, test 6): the console invites a guest and shows her link and a
// QR code; the link, opened in another browser, signs her into the app with no password; she
// sees her door and opens it (the sim unit pulses); the console revokes her grant and her app
// is signed out saying why; the used link gives a clear page, not a blank one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encode } from 'uqr';
import { OWNER, PHONE, Server, consoleLogin, launch, newPage, shot, waitFor } from './harness.mjs';

const server = new Server();
let browser, admin, guest, owner, ids, link, guestToken;

before(async () => {
  await server.start();
  await server.startUnits();
  owner = await server.login(OWNER);
  const doors = await server.list('doors', owner);
  ids = { front: doors.find((d) => d.name === 'Front door').id };
  await waitFor(async () => {
    const d = await server.api('GET', '/v1/devices', undefined, owner);
    return d.body.items.filter((x) => x.kind === 'unit' && x.connected).length === 2;
  }, 'both sim units online', 10000);
  browser = await launch();
  admin = await newPage(browser, { viewport: { width: 1280, height: 860 } });
  guest = await newPage(browser, PHONE);
  await consoleLogin(admin, server);
});

after(async () => {
  await browser?.close();
  await server.close();
});

const guests = async () => (await server.api('GET', '/v1/invitations', undefined, owner)).body.items;

test('the console refuses an invitation without doors, beside the field, and creates nothing', async () => {
  await admin.getByRole('link', { name: 'Invitations', exact: true }).click();
  await admin.getByRole('heading', { level: 1, name: 'Invitations' }).waitFor();
  await admin.getByRole('button', { name: 'Invite a guest' }).click();
  const d = admin.getByRole('dialog');
  await d.getByLabel("Guest's name").fill('Ana Guest');
  await d.getByLabel('Email').fill('ana@guest.test');
  await d.getByRole('button', { name: 'Invite', exact: true }).click();
  const field = d.locator('.field.invalid', { has: admin.getByText('Doors', { exact: true }) });
  await field.waitFor();
  assert.match(await field.locator('.field-error').innerText(), /door/);
  assert.deepEqual(await guests(), []);
  await admin.keyboard.press('Escape');
});

test('the console invites a guest and shows her link, once, with its QR code', async () => {
  await admin.getByRole('button', { name: 'Invite a guest' }).click();
  const d = admin.getByRole('dialog');
  await d.getByLabel("Guest's name").fill('Ana Guest');
  await d.getByLabel('Email').fill('ana@guest.test');
  await d.getByLabel('Phone').fill('+34 600 123 456');
  await d.getByLabel('Front door (HQ)').check();
  await d.getByLabel('Use limit (per door)').fill('5');
  await d.getByRole('button', { name: 'Invite', exact: true }).click();
  const shown = admin.getByRole('dialog', { name: 'Invitation link for Ana Guest' });
  const text = shown.locator('[data-invite-link]');
  await text.waitFor();
  link = (await text.innerText()).trim();
  assert.match(link, new RegExp(`^${server.url}/app/#code=psi_[A-Za-z0-9_-]+$`));
  // The QR code is this link (the same modules uqr gives for it), drawn without inline style.
  const qr = encode(link, { ecc: 'M', border: 2 });
  let want = '';
  qr.data.forEach((row, y) => row.forEach((dark, x) => (want += dark ? `M${x} ${y}h1v1h-1z` : '')));
  assert.equal(await shown.locator('svg.qr path').getAttribute('d'), want);
  // Her own mail and messages apps, with the link in the message.
  assert.match((await shown.getByRole('link', { name: 'Write an email' }).getAttribute('href')) ?? '', /^mailto:ana%40guest\.test\?.*psi_/);
  assert.match((await shown.getByRole('link', { name: 'Send a text message' }).getAttribute('href')) ?? '', /^sms:\+34600123456\?body=/);
  await shot(admin, 'console-invitation-link');
  await shown.getByRole('button', { name: 'Done' }).click();
  // The server made the guest and her grant; the list shows her active.
  const [g] = await guests();
  assert.equal(g.user.name, 'Ana Guest');
  assert.equal(g.user.guest, true);
  assert.equal(g.active, true);
  assert.equal(g.grants.length, 1);
  assert.equal(g.grants[0].door_id, ids.front);
  assert.equal(g.grants[0].max_uses, 5);
  ids.ana = g.id;
  ids.grant = g.grants[0].id;
  await admin.locator(`tr[data-id="${g.id}"][data-status="active"]`, { hasText: 'Front door' }).waitFor();
  await shot(admin, 'console-invitations');
  assert.deepEqual(admin.problems, []);
});

test('the link signs her into the app with no password; she sees her door and opens it', async () => {
  const t0 = Date.now();
  await guest.goto(link);
  const card = guest.locator('li.door', { has: guest.getByRole('heading', { name: 'Front door', exact: true }) });
  await card.waitFor({ timeout: 5000 });
  console.log(`guest link to her door on screen: ${Date.now() - t0} ms`);
  // The code left the address bar at once; she is a guest, with no password to change.
  assert.equal(new URL(guest.url()).hash, '');
  await guest.locator('[data-guest]', { hasText: /^Guest access until / }).waitFor();
  await guest.locator('.indicator[data-state="live"]').waitFor();
  await guest.getByRole('button', { name: 'Ana Guest' }).click();
  assert.equal(await guest.getByText('Change my password').count(), 0);
  await guest.getByRole('button', { name: 'Ana Guest' }).click();
  await card.locator('[data-verdict="allowed"]').waitFor();
  guestToken = await guest.evaluate(() => JSON.parse(localStorage.getItem('portier.app.session') ?? 'null')?.token);
  assert.ok(guestToken);
  const before = server.pulses().filter((l) => l.includes(ids.front)).length;
  await card.getByRole('button', { name: 'Open Front door' }).click();
  await card.getByText(/^Opened at/).waitFor({ timeout: 8000 });
  await waitFor(() => server.pulses().filter((l) => l.includes(ids.front)).length === before + 1, 'one front door pulse');
  await card.getByText('4 of 5 uses left').waitFor();
  await shot(guest, 'app-guest');
  // The console sees the open, by her name.
  await admin.getByRole('link', { name: 'Live', exact: true }).click();
  await admin.locator('li.event[data-action="door.open"]', { hasText: 'Front door opened by Ana Guest' }).waitFor();
  assert.deepEqual(guest.problems, []);
});

test("revoking her grant in the console signs her app out, saying why; her token is dead", async () => {
  await admin.getByRole('link', { name: 'Grants', exact: true }).click();
  await admin.getByRole('searchbox').fill('Ana');
  await admin.locator('tr', { hasText: 'Ana Guest' }).getByRole('button', { name: 'Delete' }).click();
  const t0 = Date.now();
  await admin.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await guest.getByRole('heading', { name: 'Your invitation has ended' }).waitFor({ timeout: 3000 });
  console.log(`grant deleted in the console to the guest's app signed out: ${Date.now() - t0} ms`);
  await guest.getByText(/ask them for a new link/).waitFor();
  await shot(guest, 'app-guest-ended');
  const me = await server.api('GET', '/v1/me', undefined, guestToken);
  assert.equal(me.status, 401);
  // Nothing of hers stays on the phone.
  assert.equal(await guest.evaluate(() => localStorage.getItem('portier.app.session')), null);
  // The console lists her invitation as ended.
  await admin.getByRole('link', { name: 'Invitations', exact: true }).click();
  await admin.locator(`tr[data-id="${ids.ana}"][data-status="ended"]`).waitFor();
  assert.deepEqual(guest.problems, []);
  assert.deepEqual(admin.problems, []);
});

test('the used link, opened again elsewhere, gives a clear page', async () => {
  const other = await newPage(browser, PHONE);
  await other.goto(link);
  await other.getByRole('heading', { name: "This link can't sign you in" }).waitFor();
  await other.getByText(/already used/).waitFor();
  await shot(other, 'app-link-used');
  // The password form is one tap away, for members.
  await other.getByRole('button', { name: 'Sign in with email and password instead' }).click();
  await other.getByLabel('Password').waitFor();
  assert.deepEqual(other.problems, []);
  await other.context().close();
});

test('a new link for an active guest works once; an ended one cannot get one', async () => {
  // Ana's invitation has ended: the console offers no new link, only removal.
  const row = admin.locator(`tr[data-id="${ids.ana}"]`);
  assert.equal(await row.getByRole('button', { name: 'New link' }).count(), 0);
  // Bo, invited through the API, gets a new link from the console.
  const until = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const bo = await server.api('POST', '/v1/invitations', { name: 'Bo Guest', phone: '600 111 222', door_ids: [ids.front], valid_until: until }, owner);
  assert.equal(bo.status, 201);
  const boRow = admin.locator(`tr[data-id="${bo.body.id}"]`);
  await boRow.getByRole('button', { name: 'New link' }).click();
  const fresh = (await admin.getByRole('dialog').locator('[data-invite-link]').innerText()).trim();
  assert.notEqual(fresh, `${server.url}${bo.body.link.path}`);
  await admin.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  // The first link stopped working when the new one was made.
  const old = await server.api('POST', '/v1/auth/code', { code: bo.body.link.code });
  assert.equal(old.body.error.code, 'code_expired');
  const page = await newPage(browser, PHONE);
  await page.goto(fresh);
  await page.locator('li.door').first().waitFor();
  await page.locator('[data-guest]').waitFor();
  // Her push session is live (the doors may come from the REST API first): a session still
  // saying hello when her token dies is refused as unauthorized, not told why.
  await page.locator('.indicator[data-state="live"]').waitFor();
  // Ended from the console: her app says so at once.
  await boRow.getByRole('button', { name: 'End now' }).click();
  await admin.getByRole('dialog').getByRole('button', { name: 'End invitation' }).click();
  await page.getByRole('heading', { name: 'Your invitation has ended' }).waitFor({ timeout: 3000 });
  await boRow.and(admin.locator('[data-status="ended"]')).waitFor();
  assert.deepEqual(page.problems, []);
  assert.deepEqual(admin.problems, []);
  await page.context().close();
});

test("a guest whose app was closed when her invitation ended is told so when she opens it", async () => {
  const until = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const cy = await server.api('POST', '/v1/invitations', { name: 'Cy Guest', email: 'cy@guest.test', door_ids: [ids.front], valid_until: until }, owner);
  assert.equal(cy.status, 201);
  const page = await newPage(browser, PHONE);
  await page.goto(`${server.url}${cy.body.link.path}`);
  await page.locator('li.door').first().waitFor();
  await page.locator('.indicator[data-state="live"]').waitFor();
  // Her phone closes the app. What the app stored (its session in localStorage, its replica in
  // IndexedDB) is carried over explicitly: Chromium may drop an off-the-record context's
  // localStorage once no page of the origin holds it, which a real phone does not do.
  const stored = await page.context().storageState({ indexedDB: true });
  assert.ok(stored.origins.some((o) => o.localStorage.some((e) => e.name === 'portier.app.session')));
  await page.context().close();
  assert.equal((await server.api('DELETE', `/v1/invitations/${cy.body.id}`, undefined, owner)).status, 204);
  // The same phone (its stored session), later: the server refuses her token.
  const again = await newPage(browser, { ...PHONE, storageState: stored });
  await again.goto(`${server.url}/app/`);
  // The server answers "unauthorized" (her token is gone) or "invitation_ended" (the token is
  // still there, its invitation is not): the page says the invitation ended either way.
  await again.getByRole('heading', { name: /^(You are signed out|Your invitation has ended)$/ }).waitFor();
  await again.getByText(/Your invitation has ended or was withdrawn|whoever invited you ended it/).waitFor();
  assert.equal(await again.getByLabel('Password').count(), 0);
  assert.deepEqual(again.problems, []);
  await again.context().close();
});
