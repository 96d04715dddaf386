// The app's state: who is signed in, the user/<id> feed replica (kept in IndexedDB with its
// cursor, so the app resumes and shows the last known data offline), and the server's
// answer to "which doors may I open now, and when next" (GET /v1/me/doors), fetched again
// whenever the feed changes and when that answer is due to change.
import { useEffect, useState } from 'preact/hooks';
import { Api, ApiError } from '../lib/api';
import { idbDelete, idbGet, idbSet } from '../lib/idb';
import { PushClient, streamUrl, type PushStatus, type SavedFeed } from '../lib/push';
import type { Door, Grant, MyDoor, Schedule, Site, User } from '../lib/types';
import { revokeText } from '../lib/words';

const SESSION_KEY = 'portier.app.session';
const DEVICE_KEY = 'portier.app.device';

interface Session {
  token: string;
  user_id: string;
  name: string;
  guest?: boolean; // signed in with an invitation's link: no password to change
}

// A page instead of the sign-in form: a sign-in link that did not work, or an invitation that
// ended while she was signed in.
export interface LinkProblem {
  title: string;
  text: string;
}

export const INVITATION_ENDED: LinkProblem = {
  title: 'Your invitation has ended',
  text: 'Its time is up, or whoever invited you ended it. If you still need to get in, ask them for a new link.',
};

export interface DoorView {
  door: Door;
  site: Site | undefined;
  grants: { grant: Grant; schedule: Schedule | null }[];
  status: MyDoor | undefined; // the server's verdict, when known
}

class AppState {
  api = new Api({
    onUnauthorized: (e) => this.signOut(e.code === 'user_disabled' || e.code === 'invitation_ended' ? e.code : 'unauthorized'),
  });
  session: Session | null = null;
  push: PushClient | null = null;
  status: PushStatus | null = null;
  myDoors: MyDoor[] | null = null;
  myDoorsAt: string | null = null; // when the verdicts were fetched
  verdictsStale = false;
  signedOutReason: string | null = null;
  linkProblem: LinkProblem | null = null;
  notice: string | null = null; // a word about a link opened while signed in
  linkPending = false; // a sign-in link is being redeemed
  startedAt = performance.now();
  firstDataMs: number | null = null; // time to the first screen with data (reported by tests)
  version = 0;
  private listeners = new Set<() => void>();
  private refetchTimer: ReturnType<typeof setTimeout> | undefined;
  private dueTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    try {
      this.session = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null') as Session | null;
    } catch {
      this.session = null;
    }
    this.api.token = this.session?.token ?? null;
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }
  changed(): void {
    this.version++;
    this.listeners.forEach((l) => l());
  }

  async login(email: string, password: string): Promise<void> {
    const res = await this.api.login(email, password);
    await this.begin({ token: res.token, user_id: res.user.id, name: res.user.name });
  }

  async signInWithCode(code: string): Promise<void> {
    const res = await this.api.signInWithCode(code);
    await this.begin({ token: res.token, user_id: res.user.id, name: res.user.name, guest: !!res.user.guest });
  }

  async begin(s: Session): Promise<void> {
    const previous = this.session?.user_id;
    if (previous && previous !== s.user_id) await this.forget(previous);
    this.session = s;
    this.api.token = s.token;
    localStorage.setItem(SESSION_KEY, JSON.stringify(s));
    this.signedOutReason = null;
    this.linkProblem = null;
    await this.start();
  }

  // Starts from what IndexedDB holds, then connects.
  async start(): Promise<void> {
    const s = this.session;
    if (!s) return;
    const feed = `user/${s.user_id}`;
    let saved: SavedFeed[] | undefined;
    try {
      saved = await idbGet<SavedFeed[]>(`feed:${s.user_id}`);
      const verdicts = await idbGet<{ at: string; doors: MyDoor[] }>(`doors:${s.user_id}`);
      if (verdicts && !this.myDoors) {
        this.myDoors = verdicts.doors;
        this.myDoorsAt = verdicts.at;
        this.verdictsStale = true;
      }
    } catch {
      saved = undefined; // no IndexedDB (private mode): start from a snapshot
    }
    this.push?.stop();
    this.push = new PushClient({
      url: streamUrl(),
      token: s.token,
      device: { id: deviceId(), kind: 'app', name: `${s.name}'s ${/Mobi|Android/i.test(navigator.userAgent) ? 'phone' : 'browser'}` },
      feeds: [feed],
      saved: saved ?? [],
      save: (feeds) => idbSet(`feed:${s.user_id}`, feeds),
      onData: () => {
        this.changed();
        this.refetchSoon();
      },
      onStatus: (st) => {
        this.status = st;
        if (st.state === 'live') this.refetchSoon();
        this.changed();
      },
      onRevoked: (reason) => {
        if (reason === 'rights_changed') void this.start();
        else this.signOut(reason);
      },
    });
    this.push.start();
    this.changed();
  }

  // Asks the server for the verdicts again, shortly (several changes in a burst: once).
  refetchSoon(): void {
    clearTimeout(this.refetchTimer);
    this.refetchTimer = setTimeout(() => void this.fetchVerdicts(), 50);
  }

  async fetchVerdicts(): Promise<void> {
    const s = this.session;
    if (!s) return;
    try {
      const page = await this.api.myDoors();
      if (this.session !== s) return;
      this.myDoors = page.items;
      this.myDoorsAt = new Date().toISOString();
      this.verdictsStale = false;
      void idbSet(`doors:${s.user_id}`, { at: this.myDoorsAt, doors: page.items }).catch(() => {});
      this.scheduleDue();
    } catch (e) {
      if (e instanceof ApiError && e.status === 0) this.verdictsStale = true;
    }
    this.changed();
  }

  // The verdicts change by time alone at each door's next_change: ask again then.
  private scheduleDue(): void {
    clearTimeout(this.dueTimer);
    const next = (this.myDoors ?? [])
      .map((d) => (d.next_change ? Date.parse(d.next_change) : Infinity))
      .reduce((a, b) => Math.min(a, b), Infinity);
    if (next === Infinity) return;
    const wait = Math.max(500, Math.min(next - Date.now() + 500, 2 ** 31 - 1));
    this.dueTimer = setTimeout(() => void this.fetchVerdicts(), wait);
  }

  // The doors in my feed, each with its site, my grants on it and the server's verdict.
  doors(): DoorView[] {
    const push = this.push;
    if (!push || !this.session) return [];
    const me = push.get('user', this.session.user_id) as User | undefined;
    const groups = new Set(me?.group_ids ?? []);
    const mine = push
      .all('grant')
      .filter((g) => g.user_id === this.session?.user_id || (g.group_id && groups.has(g.group_id)));
    return push
      .all('door')
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((door) => ({
        door,
        site: push.get('site', door.site_id),
        grants: mine
          .filter((g) => g.door_id === door.id || g.site_id === door.site_id)
          .map((grant) => ({ grant, schedule: grant.schedule_id ? (push.get('schedule', grant.schedule_id) ?? null) : null })),
        status: this.myDoors?.find((d) => d.id === door.id),
      }));
  }

  async changePassword(current: string, next: string): Promise<void> {
    const s = this.session;
    if (!s) return;
    // The change revokes every session of hers, this socket's too: that is not a sign-out
    // here, so this socket is closed first and a new one opened with the new token.
    this.push?.stop();
    this.push = null;
    let res;
    try {
      res = await this.api.changePassword(current, next);
    } catch (e) {
      await this.start();
      throw e;
    }
    await this.begin({ ...s, token: res.token });
  }

  signOut(reason: string | null): void {
    const s = this.session;
    if (reason === null && this.api.token) void this.api.logout().catch(() => {});
    this.push?.stop();
    this.push = null;
    clearTimeout(this.refetchTimer);
    clearTimeout(this.dueTimer);
    this.session = null;
    this.api.token = null;
    this.myDoors = null;
    this.myDoorsAt = null;
    localStorage.removeItem(SESSION_KEY);
    if (s) void this.forget(s.user_id);
    this.signedOutReason = reason ? revokeText(reason) : null;
    // A guest has no password: her page says what happened and what to do, not "sign in".
    // A token refused as unknown (the app was closed or offline when her invitation ended,
    // so she missed the reason) is, for a guest, an ended or withdrawn invitation.
    this.linkProblem =
      reason === 'invitation_ended'
        ? INVITATION_ENDED
        : s?.guest && reason
          ? {
              title: 'You are signed out',
              text:
                reason === 'unauthorized'
                  ? 'Your invitation has ended or was withdrawn. If you still need to get in, ask whoever invited you for a new link.'
                  : `${revokeText(reason)} If you still need to get in, ask whoever invited you for a new link.`,
            }
          : null;
    this.changed();
  }

  // A signed-out user's data does not stay on the phone.
  private async forget(userId: string): Promise<void> {
    try {
      await idbDelete(`feed:${userId}`);
      await idbDelete(`doors:${userId}`);
    } catch {
      // nothing stored
    }
  }
}

function deviceId(): string {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `app-${crypto.getRandomValues(new Uint32Array(2)).join('')}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

export const app = new AppState();

export function useApp(): AppState {
  const [, setV] = useState(0);
  useEffect(() => app.subscribe(() => setV(app.version)), []);
  return app;
}
