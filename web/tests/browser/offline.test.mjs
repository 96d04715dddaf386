// @ts-check
// The app offline (server stopped): an indicator, the last known data kept (also across a
// reload, from the service worker and IndexedDB); the server back: it resumes from its cursor
// and catches up on what changed meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Server, shot, waitFor, withMemberPhone } from './harness.mjs';

const server = new Server();
let phone, owner, hours, frames;
const hellos = () => frames.sent.filter((m) => m.type === 'hello');
const readies = () => frames.received.filter((m) => m.type === 'ready');

withMemberPhone(server, (s) => ({ phone, owner, hours, frames } = s));

const doors = () => phone.locator('li.door');

test('server stopped: the indicator says offline and the doors stay, marked as last known', async () => {
  await waitFor(async () => (await doors().count()) === 3, 'her three HQ doors');
  // The service worker has kept the app shell and controls the page.
  await phone.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 5000 });
  await phone.getByText('Mon–Fri 08:00–20:00').first().waitFor();
  await server.stop();
  await phone.locator('.indicator[data-state="offline"]').waitFor({ timeout: 5000 });
  assert.match(await phone.locator('.indicator').innerText(), /Offline — showing what was known/);
  assert.equal(await doors().count(), 3);
  assert.equal(await phone.locator('ul.doors.stale').count(), 1);
  await shot(phone, 'app-offline');
});

test('a reload while offline still shows the app and its data (service worker, IndexedDB)', async () => {
  await phone.reload();
  await phone.locator('.indicator[data-state="offline"], .indicator[data-state="connecting"]').first().waitFor({ timeout: 5000 });
  await waitFor(async () => (await doors().count()) === 3, 'the doors from IndexedDB after a reload');
  await phone.getByText('Mon–Fri 08:00–20:00').first().waitFor();
});

test('server back: the app resumes from its cursor and catches up on a change made meanwhile', async () => {
  const hellosBefore = hellos().length;
  await server.start();
  // Changed as soon as the server is back, most likely before the app's next attempt.
  const r = await server.api(
    'PATCH',
    `/v1/schedules/${hours.id}`,
    { windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '07:00', end: '20:00' }] },
    owner,
  );
  assert.equal(r.status, 200);
  await phone.locator('.indicator[data-state="live"]').waitFor({ timeout: 15000 });
  await phone.getByText('Mon–Fri 07:00–20:00').first().waitFor({ timeout: 3000 });
  assert.equal(await phone.getByText('Mon–Fri 08:00–20:00').count(), 0);
  // It said where it was, and the server continued from there (no snapshot).
  const hello = hellos().slice(hellosBefore).at(-1);
  assert.ok(hello, 'a new hello');
  assert.equal(typeof hello.feeds[0].seq, 'number');
  assert.ok(hello.feeds[0].epoch);
  assert.equal(readies().at(-1).feeds[0].resumed, true);
  assert.deepEqual(phone.problems, []);
});
