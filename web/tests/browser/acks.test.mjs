// @ts-check
// The app acknowledges once per burst (docs/protocol.md, "ack"): three changes in quick
// succession get fewer acks than changes, the last of them for the newest seq, and the first sent
// 250 ms or more after the first change, not at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Server, waitFor, withMemberPhone } from './harness.mjs';

const server = new Server();
let phone, owner, hours, frames;
const changes = () => frames.received.filter((m) => m.type === 'change');
const acks = () => frames.sent.filter((m) => m.type === 'ack');

withMemberPhone(server, (s) => ({ phone, owner, hours, frames } = s));

test('a burst of three changes is acknowledged once per feed, for the newest seq', async () => {
  await phone.getByText('Mon–Fri 08:00–20:00').first().waitFor();
  // Whatever the sign-in brought has been acknowledged before the burst starts.
  await new Promise((r) => setTimeout(r, 600));
  const c0 = changes().length;
  const a0 = acks().length;
  for (const end of ['19:00', '19:30', '21:00']) {
    const r = await server.api(
      'PATCH',
      `/v1/schedules/${hours.id}`,
      { windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end }] },
      owner,
    );
    assert.equal(r.status, 200);
  }
  await phone.getByText('Mon–Fri 08:00–21:00').first().waitFor({ timeout: 5000 });
  const burst = () => changes().slice(c0);
  await waitFor(async () => burst().length >= 3, 'the three changes at the app');
  const feed = burst()[0].feed;
  const newest = Math.max(...burst().filter((c) => c.feed === feed).map((c) => c.seq));
  await waitFor(async () => acks().slice(a0).some((a) => a.feed === feed && a.seq === newest), 'the ack of the newest seq');
  // Settled: nothing more is due.
  await new Promise((r) => setTimeout(r, 600));
  const sent = acks().slice(a0).filter((a) => a.feed === feed);
  const received = burst().filter((c) => c.feed === feed);
  assert.equal(received.length, 3, `three changes of ${feed}: ${JSON.stringify(received)}`);
  // An app acking each change at once sends three; the PATCHes take a few ms each, so all three
  // normally fall inside one 250 ms wait (a slow machine may split them in two).
  assert.ok(sent.length < received.length, `acks ${JSON.stringify(sent)} for changes ${JSON.stringify(received)}`);
  assert.equal(sent[sent.length - 1].seq, newest);
  // The first ack waited for more: it left at least ~250 ms after the first change arrived.
  assert.ok(sent[0].at - received[0].at >= 200, `first ack ${sent[0].at - received[0].at} ms after the first change`);
});
