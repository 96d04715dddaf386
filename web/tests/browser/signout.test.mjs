// @ts-check
// Sessions that end: a disabled user's app returns to sign-in with the reason; so does a
// console whose admin is disabled (close 4003); a password changed in the app keeps that
// phone signed in and signs her other devices out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { JOAN, MARIA, OWNER, PHONE, Server, appLogin, consoleLogin, launch, newPage, shot } from './harness.mjs';

const server = new Server();
let browser, owner, users;

before(async () => {
  await server.start();
  owner = await server.login(OWNER);
  const eve = await server.api('POST', '/v1/users', { email: 'eve@demo.portier.dev', name: 'Eve', role: 'admin', password: 'eve-password-1' }, owner);
  assert.equal(eve.status, 201);
  server.logins['eve@demo.portier.dev'] = 'eve-password-1';
  users = Object.fromEntries((await server.list('users', owner)).map((u) => [u.email, u.id]));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server.close();
});

test("a disabled user's app returns to sign-in with the reason", async () => {
  const phone = await newPage(browser, PHONE);
  await appLogin(phone, server, JOAN);
  const r = await server.api('PATCH', `/v1/users/${users[JOAN]}`, { disabled: true }, owner);
  assert.equal(r.status, 200);
  await phone.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 8000 });
  assert.match(await phone.locator('[data-reason]').innerText(), /account was disabled/);
  await shot(phone, 'app-signed-out-disabled');
  // Nothing of hers is left showing.
  assert.equal(await phone.locator('li.door').count(), 0);
  assert.deepEqual(phone.problems, []);
});

test('a console whose admin is disabled returns to sign-in, saying why', async () => {
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await consoleLogin(page, server, 'eve@demo.portier.dev');
  await server.api('PATCH', `/v1/users/${users['eve@demo.portier.dev']}`, { disabled: true }, owner);
  await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 8000 });
  assert.match(await page.locator('[data-reason]').innerText(), /account was disabled/);
  assert.deepEqual(page.problems, []);
});

test('a member cannot use the console (it sends her to the app)', async () => {
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await page.goto(server.url + '/');
  await page.getByLabel('Email').fill(MARIA);
  await page.getByLabel('Password').fill(server.logins[MARIA]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('members use the app at /app/').waitFor();
});

test('a password changed in the app: this phone goes on, her other devices are signed out', async () => {
  const phone = await newPage(browser, PHONE);
  const other = await newPage(browser, PHONE);
  await appLogin(phone, server, MARIA);
  await appLogin(other, server, MARIA);
  const apiToken = await server.login(MARIA);
  await phone.getByRole('button', { name: 'Maria' }).click();
  // A wrong current password: the field says so, nothing changes.
  await phone.getByLabel('Current password').fill('not-her-password');
  await phone.getByLabel('New password', { exact: true }).fill('a-new-secret-9');
  await phone.getByLabel('New password again').fill('a-new-secret-9');
  await phone.getByRole('button', { name: 'Change password' }).click();
  await phone.locator('.field.invalid', { hasText: 'current password is wrong' }).waitFor();
  assert.equal((await server.api('GET', '/v1/me', undefined, apiToken)).status, 200);
  // The right one.
  await phone.getByLabel('Current password').fill(server.logins[MARIA]);
  await phone.getByRole('button', { name: 'Change password' }).click();
  await phone.getByText('Password changed').waitFor();
  await other.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 8000 });
  assert.match(await other.locator('[data-reason]').innerText(), /password was changed/);
  assert.equal((await server.api('GET', '/v1/me', undefined, apiToken)).status, 401);
  await phone.locator('.indicator[data-state="live"]').waitFor({ timeout: 8000 });
  assert.equal(await phone.getByRole('button', { name: 'Sign in' }).count(), 0);
  const login = await server.api('POST', '/v1/auth/login', { email: MARIA, password: 'a-new-secret-9' });
  assert.equal(login.status, 200);
  assert.deepEqual(phone.problems, []);
});
