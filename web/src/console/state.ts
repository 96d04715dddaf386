// The console's state: the session (token, who am I), the push client reading the org feed
// (or the site feeds of an admin scoped to sites), live events and device receipts. Every
// view reads records from the replica, so an edit made anywhere appears without reload.
import { useEffect, useState } from 'preact/hooks';
import { Api, ApiError } from '../lib/api';
import { PushClient, streamUrl, type PushStatus } from '../lib/push';
import type { AuditEntry, Device, Me } from '../lib/types';
import { revokeText } from '../lib/words';

const TOKEN_KEY = 'portier.console.token';
const DEVICE_KEY = 'portier.console.device';


export interface Features {
  groups: boolean;
  import: boolean;
  invitations: boolean;
}

class ConsoleState {
  api: Api;
  me: Me | null = null;
  push: PushClient | null = null;
  status: PushStatus | null = null;
  events: AuditEntry[] = [];
  devices = new Map<string, Device>();
  signedOutReason: string | null = null;
  features: Features = { groups: false, import: false, invitations: false };
  version = 0;
  private listeners = new Set<() => void>();

  constructor() {
    this.api = new Api({
      token: localStorage.getItem(TOKEN_KEY),
      onUnauthorized: (e) => this.signOut(e.code === 'user_disabled' ? 'user_disabled' : 'unauthorized'),
    });
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }
  changed(): void {
    this.version++;
    this.listeners.forEach((l) => l());
  }

  get signedIn(): boolean {
    return !!this.api.token;
  }

  async login(email: string, password: string): Promise<void> {
    const res = await this.api.login(email, password);
    if (res.user.role === 'member')
      throw new ApiError(403, 'forbidden', 'The console is for owners and admins; members use the app at /app/.');
    localStorage.setItem(TOKEN_KEY, res.token);
    this.api.token = res.token;
    this.signedOutReason = null;
    await this.startSession();
  }

  // Loads who I am, then reads my feeds. Called at start with a saved token.
  async startSession(): Promise<void> {
    try {
      this.me = await this.api.me();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; // onUnauthorized signed out
      throw e;
    }
    if (this.me.user.role === 'member') return this.signOut('forbidden_feed');
    const u = this.me.user;
    const feeds =
      u.role === 'admin' && u.site_ids && u.site_ids.length ? u.site_ids.map((s) => `site/${s}`) : [`org/${this.me.org.id}`];
    this.push?.stop();
    this.push = new PushClient({
      url: streamUrl(),
      token: this.api.token as string,
      device: { id: deviceId(), kind: 'console', name: `Console (${u.name})` },
      feeds,
      onData: () => this.changed(),
      onStatus: (s) => {
        this.status = s;
        this.changed();
      },
      onEvent: (e) => {
        this.events = [e, ...this.events].slice(0, 300);
        this.changed();
      },
      onDevice: (d) => {
        this.devices.set(deviceKey(d), d);
        this.changed();
      },
      onRevoked: (reason) => {
        if (reason === 'rights_changed') void this.startSession();
        else this.signOut(reason);
      },
    });
    this.push.start();
    this.changed();
    void this.loadSide();
  }

  // What the feed does not carry: recent events, devices, and which optional APIs exist.
  private async loadSide(): Promise<void> {
    const [audit, devices, groups, invitations, importRoute] = await Promise.allSettled([
      this.api.audit({ limit: 100 }),
      this.api.devices(),
      this.api.list('group', 1),
      this.api.request('GET', '/v1/invitations?limit=1'),
      this.api.request('GET', '/v1/import'),
    ]);
    if (audit.status === 'fulfilled') {
      const live = new Set(this.events.map((e) => e.at + e.action + e.entity_id));
      const old = audit.value.items.filter((e) => isLiveAction(e.action) && !live.has(e.at + e.action + e.entity_id));
      this.events = [...this.events, ...old].slice(0, 300);
    }
    if (devices.status === 'fulfilled')
      for (const d of devices.value) if (!this.devices.has(deviceKey(d))) this.devices.set(deviceKey(d), d);
    this.features = {
      groups: groups.status === 'fulfilled',
      // POST only: a 405 says the route is there.
      import: importRoute.status === 'rejected' && importRoute.reason instanceof ApiError && importRoute.reason.status === 405,
      invitations: invitations.status === 'fulfilled',
    };
    this.changed();
  }

  signOut(reason: string | null): void {
    const hadToken = !!this.api.token;
    if (reason === null && hadToken) void this.api.logout().catch(() => {});
    localStorage.removeItem(TOKEN_KEY);
    this.api.token = null;
    this.push?.stop();
    this.push = null;
    this.me = null;
    this.events = [];
    this.devices.clear();
    this.signedOutReason = reason ? revokeText(reason) : null;
    this.changed();
  }
}

export function isLiveAction(action: string): boolean {
  return (
    action === 'door.open' ||
    action === 'door.forced' ||
    action === 'door.held_open' ||
    action === 'unit.connected' ||
    action === 'unit.disconnected'
  );
}

// Device ids are chosen by devices (a portier-unit sends its unit id, an app or a console a
// random id kept per installation), so they are unique per identity, not across the
// organization: the key holds the identity too, as the server's registry does.
export function deviceKey(d: Device): string {
  return `${d.user_id ?? ''}/${d.unit_id ?? ''}/${d.id}`;
}

function deviceId(): string {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `console-${crypto.getRandomValues(new Uint32Array(2)).join('')}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

export const state = new ConsoleState();

// Re-renders the component whenever the console's state changes.
export function useConsole(): ConsoleState {
  const [, setV] = useState(0);
  useEffect(() => state.subscribe(() => setV(state.version)), []);
  return state;
}
