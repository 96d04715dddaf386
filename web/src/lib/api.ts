// The typed REST client (docs/api.md), shared by the console and the app.
import type {
  AccessCheck,
  AuditEntry,
  Device,
  Enrollment,
  Fields,
  Invitation,
  InvitationLink,
  InvitationRequest,
  Kind,
  KindMap,
  LoginResult,
  Me,
  MyDoor,
  OpenResult,
  Page,
} from './types';
import { PLURAL } from './types';

// An error answer of the API ({"error": {code, message, field, …}}), or a network failure
// (status 0, code "network").
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string = '',
    readonly reason: string | null = null,
    readonly nextChange: string | null = null,
    readonly rows: ImportRowError[] = [],
  ) {
    super(message);
  }
}

export interface ImportRowError {
  line: number;
  code: string;
  message: string;
  field: string;
}

interface ErrorBody {
  error?: {
    code?: string;
    message?: string;
    field?: string;
    reason?: string;
    next_change?: string | null;
    rows?: ImportRowError[];
  };
}

export interface ApiOptions {
  base?: string; // '' for the page's own origin
  token?: string | null;
  // Called when the server says the token is no longer good (401): the caller signs out.
  onUnauthorized?: (e: ApiError) => void;
}

export class Api {
  base: string;
  token: string | null;
  onUnauthorized: ((e: ApiError) => void) | undefined;

  constructor(opts: ApiOptions = {}) {
    this.base = opts.base ?? '';
    this.token = opts.token ?? null;
    this.onUnauthorized = opts.onUnauthorized;
  }

  async request<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers['authorization'] = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, body: payload, cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'network', 'the server cannot be reached');
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const e = (json as ErrorBody | null)?.error;
      const err = new ApiError(
        res.status,
        e?.code ?? 'http_' + res.status,
        e?.message ?? `the server answered ${res.status}`,
        e?.field ?? '',
        e?.reason ?? null,
        e?.next_change ?? null,
        e?.rows ?? [],
      );
      if (res.status === 401 && this.token && this.onUnauthorized) this.onUnauthorized(err);
      throw err;
    }
    return json as T;
  }

  // Authentication.
  login(email: string, password: string): Promise<LoginResult> {
    return this.request('POST', '/v1/auth/login', { email, password });
  }
  signInWithCode(code: string): Promise<LoginResult> {
    return this.request('POST', '/v1/auth/code', { code });
  }
  logout(): Promise<void> {
    return this.request('POST', '/v1/auth/logout');
  }
  me(): Promise<Me> {
    return this.request('GET', '/v1/me');
  }
  changePassword(current: string, next: string): Promise<LoginResult> {
    return this.request('POST', '/v1/me/password', {
      current_password: current,
      new_password: next,
    });
  }

  // The five routes of every resource.
  list<K extends Kind>(kind: K, limit = 100, cursor?: string): Promise<Page<KindMap[K]>> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    return this.request('GET', `/v1/${PLURAL[kind]}?${q}`);
  }
  listAll<K extends Kind>(kind: K): Promise<KindMap[K][]> {
    return this.allPages(`/v1/${PLURAL[kind]}`);
  }
  // Every item of a paged route, 500 at a time, following next_cursor to the end.
  private async allPages<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    for (;;) {
      const q = new URLSearchParams({ limit: '500' });
      if (cursor) q.set('cursor', cursor);
      const page: Page<T> = await this.request('GET', `${path}?${q}`);
      out.push(...page.items);
      if (!page.next_cursor) return out;
      cursor = page.next_cursor;
    }
  }
  get<K extends Kind>(kind: K, id: string): Promise<KindMap[K]> {
    return this.request('GET', `/v1/${PLURAL[kind]}/${encodeURIComponent(id)}`);
  }
  create<K extends Kind>(kind: K, fields: Fields<K>): Promise<KindMap[K]> {
    return this.request('POST', `/v1/${PLURAL[kind]}`, fields);
  }
  // A JSON merge patch: null removes an optional field.
  update<K extends Kind>(
    kind: K,
    id: string,
    patch: { [F in keyof Fields<K>]?: Fields<K>[F] | null },
  ): Promise<KindMap[K]> {
    return this.request('PATCH', `/v1/${PLURAL[kind]}/${encodeURIComponent(id)}`, patch);
  }
  remove(kind: Kind, id: string): Promise<void> {
    return this.request('DELETE', `/v1/${PLURAL[kind]}/${encodeURIComponent(id)}`);
  }

  // Doors, access and the log.
  myDoors(): Promise<Page<MyDoor>> {
    return this.request('GET', '/v1/me/doors?limit=500');
  }
  open(doorId: string, overrideLockdown = false): Promise<OpenResult> {
    return this.request(
      'POST',
      `/v1/doors/${encodeURIComponent(doorId)}/open`,
      overrideLockdown ? { override_lockdown: true } : {},
    );
  }
  accessCheck(userId: string, doorId: string, at?: string): Promise<AccessCheck> {
    const q = new URLSearchParams({ user_id: userId, door_id: doorId });
    if (at) q.set('at', at);
    return this.request('GET', `/v1/access/check?${q}`);
  }
  audit(q: {
    from?: string;
    to?: string;
    kind?: string;
    limit?: number;
    cursor?: string;
  }): Promise<Page<AuditEntry>> {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
    return this.request('GET', `/v1/audit?${p}`);
  }
  // Every page: the console shows every device (a site with thousands of phones is a few).
  devices(): Promise<Device[]> {
    return this.allPages('/v1/devices');
  }

  // Units.
  enrollment(unitId: string): Promise<Enrollment> {
    return this.request('POST', `/v1/units/${encodeURIComponent(unitId)}/enrollment`, {});
  }
  revokeUnit(unitId: string): Promise<void> {
    return this.request('DELETE', `/v1/units/${encodeURIComponent(unitId)}/credentials`);
  }

  // Guest invitations: the guest, her grants and a single-use sign-in link in one request.
  invite(body: InvitationRequest): Promise<Invitation> {
    return this.request('POST', '/v1/invitations', body);
  }
  // A new link for a guest (her unused earlier one stops working).
  invitationLink(guestId: string): Promise<InvitationLink> {
    return this.request('POST', `/v1/invitations/${encodeURIComponent(guestId)}/link`, {});
  }
  // Ends an invitation now: her grants go, her sessions and links die.
  endInvitation(guestId: string): Promise<void> {
    return this.request('DELETE', `/v1/invitations/${encodeURIComponent(guestId)}`);
  }

  // Batch import (application/x-ndjson: one {"kind": …} object per line; all or nothing).
  importLines(lines: object[]): Promise<unknown> {
    return this.request(
      'POST',
      '/v1/import',
      lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
      'application/x-ndjson',
    );
  }
}
