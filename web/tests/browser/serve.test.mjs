// @ts-check
// How portierd serves the built console and app: content types, caching, the single-page
// fallback, security headers, no inline script, and a clear page when it has no built files.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Server, WEB_ROOT } from './harness.mjs';

const server = new Server();
const bare = new Server();

before(async () => {
  await server.start();
  await bare.start({ webRoot: join(bare.dir, 'no-such-dir') });
});
after(async () => {
  await server.close();
  await bare.close();
});

const get = async (s, path, headers = {}) => {
  const res = await fetch(s.url + path, { headers, redirect: 'manual' });
  return { status: res.status, h: res.headers, body: await res.text() };
};

// The status of a request sent byte for byte (fetch would normalize the dots away).
const raw = (s, path) =>
  new Promise((resolve, reject) => {
    const sock = connect(s.port, '127.0.0.1', () => sock.end(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let out = '';
    sock.on('data', (d) => (out += d));
    sock.on('end', () => resolve(Number(out.split(' ')[1])));
    sock.on('error', reject);
  });

test('pages: html, never cached, with a strict CSP and the security headers', async () => {
  for (const path of ['/', '/app/']) {
    const r = await get(server, path);
    assert.equal(r.status, 200);
    assert.equal(r.h.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(r.h.get('cache-control'), 'no-cache');
    const csp = r.h.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
    assert.equal(r.h.get('x-content-type-options'), 'nosniff');
    assert.equal(r.h.get('referrer-policy'), 'no-referrer');
    // No inline script: every script element loads a file.
    for (const m of r.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      assert.match(/** @type {string} */ (m[1]), /\bsrc=/);
      assert.equal(/** @type {string} */ (m[2]).trim(), '');
    }
    assert.doesNotMatch(r.body, /\son[a-z]+=/i);
  }
});

test('hashed assets: a year, immutable, right type, gzip when accepted', async () => {
  const assets = readdirSync(join(WEB_ROOT, 'assets'));
  const js = assets.find((f) => /^console-.*\.js$/.test(f));
  const css = assets.find((f) => f.endsWith('.css'));
  const r = await get(server, `/assets/${js}`, { 'accept-encoding': 'gzip' });
  assert.equal(r.status, 200);
  assert.equal(r.h.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(r.h.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(r.h.get('vary'), 'Accept-Encoding');
  assert.equal(r.body, readFileSync(join(WEB_ROOT, 'assets', /** @type {string} */ (js)), 'utf8'));
  assert.equal((await get(server, `/assets/${css}`)).h.get('content-type'), 'text/css; charset=utf-8');
});

test('the app: manifest, service worker, icons', async () => {
  const m = await get(server, '/app/manifest.webmanifest');
  assert.equal(m.h.get('content-type'), 'application/manifest+json');
  const manifest = JSON.parse(m.body);
  assert.equal(manifest.scope, '/app/');
  assert.equal(manifest.start_url, '/app/');
  assert.ok(manifest.icons.some((i) => i.sizes === '512x512'));
  const sw = await get(server, '/app/sw.js');
  assert.equal(sw.h.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(sw.h.get('cache-control'), 'no-cache');
  assert.equal((await get(server, '/app/icon-192.png')).h.get('content-type'), 'image/png');
});

test('page routes fall back to their page; files that are not there are 404', async () => {
  const consoleHtml = (await get(server, '/')).body;
  const appHtml = (await get(server, '/app/')).body;
  assert.notEqual(consoleHtml, appHtml);
  assert.equal((await get(server, '/schedules')).body, consoleHtml);
  assert.equal((await get(server, '/app/settings')).body, appHtml);
  assert.equal((await get(server, '/assets/nope-123.js')).status, 404);
  assert.equal((await get(server, '/app/nope.png')).status, 404);
  const slash = await get(server, '/app');
  assert.equal(slash.status, 308);
  assert.equal(slash.h.get('location'), '/app/');
  // Nothing outside the built directory, however the path is spelled.
  for (const p of ['/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc/passwd', '/assets/..%2f..%2f..%2fCMakeCache.txt', '/.hidden'])
    assert.equal(await raw(server, p), 404, p);
  // The API is not the web's: unknown API routes stay JSON errors.
  const api = await get(server, '/v1/nope');
  assert.equal(api.status, 404);
  assert.match(api.body, /"not_found"/);
  assert.equal((await fetch(server.url + '/', { method: 'POST' })).status, 405);
});

test('a server without built files says so at /, and its API still works', async () => {
  const r = await get(bare, '/');
  assert.equal(r.status, 503);
  assert.match(r.body, /without its web console/);
  assert.match(r.body, /--web-root/);
  assert.equal((await get(bare, '/healthz')).status, 200);
});
