// @ts-check
// axe-core finds no serious or critical accessibility violation on any page of the console
// (desk and phone widths, forms open) or the app.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MARIA, OWNER, PHONE, Server, UNIT, appLogin, consoleLogin, launch, newPage, shot } from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const server = new Server();
let browser;

before(async () => {
  await server.start();
  await server.startUnits();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server.close();
});

// The serious and critical violations on the page as it is now, as readable lines.
async function audit(page, where) {
  // Evaluated through the DevTools protocol: the page's CSP (no inline script) still holds.
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    // @ts-ignore axe is global once injected
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return {
      rules: r.passes.length + r.violations.length,
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })),
    };
  });
  assert.ok(res.rules > 10, `axe ran on ${where}`);
  for (const v of res.violations) if (v.impact !== 'serious' && v.impact !== 'critical') console.log(`${where}: ${v.id} (${v.impact}) ${v.help}`);
  return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${where}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.join(', ')}`);
}

test('console pages at desk width', async () => {
  const page = await newPage(browser, { viewport: { width: 1280, height: 860 } });
  await page.goto(server.url + '/');
  const found = await audit(page, 'sign-in');
  await consoleLogin(page, server);
  // A guest, so the invitations view has a row (and a link dialog) to check.
  const owner = await server.login(OWNER);
  const doors = await server.list('doors', owner);
  const until = new Date(Date.now() + 86400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const inv = await server.api('POST', '/v1/invitations', { name: 'Gus Guest', phone: '600 000 111', door_ids: [doors[0].id], valid_until: until }, owner);
  assert.equal(inv.status, 201);
  for (const view of ['Live', 'Doors', 'Sites', 'Units', 'Users', 'Schedules', 'Grants', 'Invitations', 'Devices', 'Access check', 'Audit log']) {
    await page.getByRole('link', { name: view, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: view }).waitFor();
    found.push(...(await audit(page, view)));
  }
  // Forms and dialogs.
  for (const [view, button] of [
    ['Schedules', 'New schedule'],
    ['Grants', 'New grant'],
    ['Users', 'New user'],
    ['Invitations', 'Invite a guest'],
  ]) {
    await page.getByRole('link', { name: view, exact: true }).click();
    await page.getByRole('button', { name: button }).click();
    await page.getByRole('dialog').waitFor();
    found.push(...(await audit(page, `${view} form`)));
    await page.keyboard.press('Escape');
  }
  await page.getByRole('link', { name: 'Invitations', exact: true }).click();
  await page.locator('tr', { hasText: 'Gus Guest' }).getByRole('button', { name: 'New link' }).click();
  await page.locator('[data-invite-link]').waitFor();
  found.push(...(await audit(page, 'invitation link')));
  await page.keyboard.press('Escape');
  await page.getByRole('link', { name: 'Units', exact: true }).click();
  await page.getByRole('button', { name: 'Enrollment code' }).first().click();
  await page.locator('.enroll-code').waitFor();
  await shot(page, 'console-enrollment');
  found.push(...(await audit(page, 'enrollment code')));
  // The command line shown works as it is (with a state directory of this test's).
  const cmd = (await page.locator('pre.cmd').innerText()).trim().split(/\s+/);
  assert.equal(cmd[0], 'portier-unit');
  const state = join(server.dir, 'enrolled-from-console');
  const r = spawnSync(UNIT, [...cmd.slice(1, -1), state]);
  assert.equal(r.status, 0, String(r.stderr));
  await page.keyboard.press('Escape');
  assert.deepEqual(found, []);
  assert.deepEqual(page.problems, []);
});

test('console at phone width (the mobile management tool)', async () => {
  const page = await newPage(browser, PHONE);
  await consoleLogin(page, server);
  const found = await audit(page, 'phone live');
  await shot(page, 'console-phone');
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('link', { name: 'Doors', exact: true }).waitFor();
  found.push(...(await audit(page, 'phone menu')));
  await shot(page, 'console-phone-menu');
  await page.getByRole('link', { name: 'Doors', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Doors' }).waitFor();
  found.push(...(await audit(page, 'phone doors')));
  await shot(page, 'console-phone-doors');
  assert.deepEqual(found, []);
});

test('app pages', async () => {
  const phone = await newPage(browser, PHONE);
  await phone.goto(server.url + '/app/');
  const found = await audit(phone, 'app sign-in');
  await appLogin(phone, server, MARIA);
  await phone.locator('li.door').first().waitFor();
  found.push(...(await audit(phone, 'app doors')));
  await phone.getByRole('button', { name: 'My schedule' }).first().click();
  found.push(...(await audit(phone, 'app schedule')));
  await phone.getByRole('button', { name: 'Maria' }).click();
  found.push(...(await audit(phone, 'app settings')));
  // A sign-in link that does not work: its own page.
  const other = await newPage(browser, PHONE);
  await other.goto(server.url + '/app/#code=psi_not-a-code');
  await other.getByRole('heading', { name: "This link can't sign you in" }).waitFor();
  found.push(...(await audit(other, 'app link problem')));
  assert.deepEqual(found, []);
});
