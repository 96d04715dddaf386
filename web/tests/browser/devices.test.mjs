// @ts-check
// The console's Devices view lists every device the server remembers, past the first page of
// GET /v1/devices (500 to a page): 540 phones of 12 people, each of which connected once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Server, waitFor, withOwnerConsole } from './harness.mjs';

const server = new Server();
let browser, page, owner;

withOwnerConsole(server, (s) => ({ owner, browser, page } = s));

const PEOPLE = 12;
const PHONES = 45; // under the 50 devices remembered per person

test('the Devices view shows every device, across pages of the API', async () => {
  const tokens = [];
  for (let i = 0; i < PEOPLE; i++) {
    const email = `many${i}@demo.portier.dev`;
    const u = await server.api('POST', '/v1/users', { email, name: `Many ${i}`, password: 'many-password-1' }, owner);
    assert.equal(u.status, 201);
    server.logins[email] = 'many-password-1';
    tokens.push(await server.login(email));
  }
  // Each phone says hello over a real push session, is told "ready", and goes away.
  const url = `${server.url.replace(/^http/, 'ws')}/v1/stream`;
  const ready = await page.evaluate(
    async ({ url, tokens, phones }) => {
      let n = 0;
      await Promise.all(
        tokens.map(async (token, u) => {
          for (let i = 0; i < phones; i++)
            await new Promise((resolve, reject) => {
              const ws = new WebSocket(url);
              const device = { id: `phone-${u}-${i}`, kind: 'app', name: `Phone ${u}-${i}` };
              ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token, device }));
              ws.onmessage = (ev) => {
                const m = JSON.parse(String(ev.data));
                if (m.type === 'ready') {
                  n++;
                  ws.close();
                  resolve(undefined);
                } else if (m.type === 'error') reject(new Error(m.code));
              };
              ws.onerror = () => reject(new Error('socket error'));
            });
        }),
      );
      return n;
    },
    { url, tokens, phones: PHONES },
  );
  assert.equal(ready, PEOPLE * PHONES);

  // What the server remembers, page by page: more than one page.
  const ids = new Set();
  let cursor = null;
  let pages = 0;
  do {
    const r = await server.api('GET', `/v1/devices?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, undefined, owner);
    assert.equal(r.status, 200);
    for (const d of r.body.items) ids.add(`${d.user_id ?? d.unit_id}/${d.id}`);
    cursor = r.body.next_cursor;
    pages++;
  } while (cursor);
  assert.ok(pages > 1, `${ids.size} devices fit in one page`);
  assert.ok(ids.size > PEOPLE * PHONES);

  // A console opened now learns them from the API only (it saw none of them connect).
  await page.reload();
  await page.getByRole('link', { name: 'Devices', exact: true }).click();
  const rows = page.locator('table.list tbody tr');
  await waitFor(async () => (await rows.count()) === ids.size, `${ids.size} rows in the Devices view`);
  for (const name of ['Phone 0-0', `Phone ${PEOPLE - 1}-${PHONES - 1}`])
    assert.equal(await rows.filter({ hasText: name }).count(), 1, name);
  assert.deepEqual(page.problems, []);
});
