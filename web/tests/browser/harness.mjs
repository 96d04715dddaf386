// @ts-check
// The browser tests' harness: a real portierd (its demo organization) on 127.0.0.1:0, real
// portier-unit processes with the sim driver on the demo doors, Debian's Chromium driven by
// playwright-core, REST calls, waits with deadlines, and screenshots kept under the build.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (!v) throw new Error(`${name} is not set (run the browser tests through ctest, or set it)`);
  return v;
};
export const PORTIERD = env('PORTIERD_BIN', '../build/src/server/portierd');
export const UNIT = env('PORTIER_UNIT_BIN', '../build/src/unit/portier-unit');
export const WEB_ROOT = env('PORTIER_WEB_ROOT', '../build/web/dist');
export const OUT = env('PORTIER_TEST_OUT', '../build/browser-screenshots');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// Waits until fn() returns something truthy (awaited), or fails after `ms` with `what`.
export async function waitFor(fn, what, ms = 5000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// A portierd serving the demo organization and the built web pages.
export class Server {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'portier-browser-'));
    this.port = 0;
    this.logins = /** @type {Record<string, string>} */ ({});
    this.proc = null;
    this.units = [];
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  // Starts portierd (on the port it had, after a stop); `webRoot` overrides the built pages.
  async start({ webRoot = WEB_ROOT } = {}) {
    const args = ['serve', '--data', this.dir, '--listen', `127.0.0.1:${this.port}`, '--demo', '--web-root', webRoot];
    const proc = spawn(PORTIERD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    this.proc = proc;
    let stderr = '';
    proc.stderr.on('data', (d) => {
      stderr += d;
      if (process.env.PORTIER_TEST_VERBOSE) process.stderr.write(d);
    });
    const lines = createInterface({ input: proc.stdout });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`portierd did not listen within 15 s: ${stderr}`)), 15000);
      lines.on('line', (l) => {
        const m = /^(\S+@\S+)\s+(\S+)\s+\((\w+)\)$/.exec(l);
        if (m) this.logins[/** @type {string} */ (m[1])] = /** @type {string} */ (m[2]);
        const lm = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(l);
        if (lm) {
          this.port = Number(lm[1]);
          clearTimeout(timer);
          resolve(undefined);
        }
      });
      proc.on('exit', (code) => {
        children.delete(proc);
        clearTimeout(timer);
        reject(new Error(`portierd exited with ${code}: ${stderr}`));
      });
    });
    return this;
  }

  // SIGTERM and wait for the exit.
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.on('exit', r));
    p.kill('SIGTERM');
    await done;
  }

  // Enrolls and runs the two demo units (sim driver); returns their sim relay logs.
  async startUnits() {
    const lines = readFileSync(join(this.dir, 'demo-units.txt'), 'utf8').trim().split('\n');
    for (const line of lines) {
      const [id, code] = line.split(' ');
      const state = join(this.dir, 'units', /** @type {string} */ (id));
      mkdirSync(state, { recursive: true });
      const r = spawnSync(UNIT, ['enroll', '--server', this.url, '--code', /** @type {string} */ (code), '--state', state]);
      if (r.status !== 0) throw new Error(`enroll failed: ${r.stderr}`);
      const proc = spawn(UNIT, ['run', '--state', state, '--name', `unit ${id}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(proc);
      proc.stdout.resume();
      proc.stderr.resume();
      this.units.push({ id, proc, relayLog: join(state, 'sim', 'relay.log') });
    }
    return this.units;
  }

  // Lines the sim relays wrote (one per pulse).
  pulses() {
    return this.units.flatMap((u) => (existsSync(u.relayLog) ? readFileSync(u.relayLog, 'utf8').trim().split('\n').filter(Boolean) : []));
  }

  async close() {
    for (const u of this.units) u.proc.kill('SIGTERM');
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // REST as a user; returns {status, body}.
  async api(method, path, body, token) {
    const headers = /** @type {Record<string,string>} */ ({});
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  }

  async login(email) {
    const r = await this.api('POST', '/v1/auth/login', { email, password: this.logins[email] });
    if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token;
  }

  async list(plural, token) {
    const r = await this.api('GET', `/v1/${plural}?limit=500`, undefined, token);
    return r.body.items;
  }
}

export const OWNER = 'admin@demo.portier.dev';
export const MARIA = 'maria@demo.portier.dev';
export const JOAN = 'joan@demo.portier.dev';

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (make test does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

// A page that fails the test on any script error or CSP violation it reports.
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext(opts);
  const page = await context.newPage();
  page.setDefaultTimeout(8000);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|WebSocket connection|ERR_CONNECTION_REFUSED/.test(m.text()))
      page.problems.push(`console error: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    page.problems.push(`dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  return page;
}

// Every push message the page's WebSockets send and receive, parsed, with the time it was
// seen (ms since the epoch): {sent: [{...message, at}], received: [...]}.
export function pushFrames(page) {
  /** @type {{sent: any[], received: any[]}} */
  const frames = { sent: [], received: [] };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.sent.push({ ...JSON.parse(String(f.payload)), at: Date.now() }));
    ws.on('framereceived', (f) => frames.received.push({ ...JSON.parse(String(f.payload)), at: Date.now() }));
  });
  return frames;
}

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

export async function shot(page, name) {
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: false });
}

export async function consoleLogin(page, server, email = OWNER) {
  await page.goto(server.url + '/');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(server.logins[email]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.live-status[data-state="live"]').waitFor({ timeout: 5000 });
}

// A test file's hooks for the usual start: before its tests the server starts and the owner
// signs in to the console in a desktop-sized page (`set` gets { owner, browser, page }); after
// them the browser and the server stop.
export function withOwnerConsole(server, set) {
  let browser;
  before(async () => {
    await server.start();
    const owner = await server.login(OWNER);
    browser = await launch();
    const page = await newPage(browser, { viewport: { width: 1280, height: 860 } });
    await consoleLogin(page, server);
    set({ owner, browser, page });
  });
  after(async () => {
    await browser?.close();
    await server.close();
  });
}

// The same for the app: the server starts, the owner signs in over the API, and a member signs
// in to the app in a phone-sized page whose push frames are recorded (`set` gets { owner,
// hours: the demo's "Office hours" schedule, browser, phone, frames }).
export function withMemberPhone(server, set, email = MARIA) {
  let browser;
  before(async () => {
    await server.start();
    const owner = await server.login(OWNER);
    const hours = (await server.list('schedules', owner)).find((s) => s.name === 'Office hours');
    browser = await launch();
    const phone = await newPage(browser, PHONE);
    const frames = pushFrames(phone);
    await appLogin(phone, server, email);
    set({ owner, hours, browser, phone, frames });
  });
  after(async () => {
    await browser?.close();
    await server.close();
  });
}

export async function appLogin(page, server, email) {
  await page.goto(server.url + '/app/');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(server.logins[email]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.indicator[data-state="live"]').waitFor({ timeout: 5000 });
}
