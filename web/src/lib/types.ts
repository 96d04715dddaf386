// The records and messages of portier's REST API (docs/api.md) and push protocol
// (docs/protocol.md), as TypeScript types. Shared by the console and the app.

export type Day = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const DAYS: readonly Day[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export interface Meta {
  id: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface Site extends Meta {
  name: string;
  timezone: string;
  lockdown?: boolean;
}

export type DoorKind = 'door' | 'gate' | 'garage' | 'turnstile';
export interface Door extends Meta {
  site_id: string;
  name: string;
  kind: DoorKind;
  pulse_ms: number;
}

export interface Unit extends Meta {
  name: string;
  door_ids: string[];
}

export type Role = 'owner' | 'admin' | 'member';
export interface User extends Meta {
  email: string;
  name: string;
  role: Role;
  site_ids?: string[];
  group_ids?: string[];
  disabled?: boolean;
  guest?: boolean; // invited for a while (POST /v1/invitations): her grants end, so does she
  phone?: string;
}

export interface Group extends Meta {
  name: string;
  description?: string;
}

export interface Window {
  days: Day[];
  start: string; // "HH:MM" in the site's local time
  end: string; // at or before start: runs overnight into the next day
}
export interface DayWindow {
  start: string;
  end: string;
}
export interface ScheduleException {
  date: string; // YYYY-MM-DD
  closed?: boolean;
  windows?: DayWindow[];
}
export interface Schedule extends Meta {
  name: string;
  windows: Window[];
  exceptions?: ScheduleException[];
}

export interface Grant extends Meta {
  user_id?: string;
  group_id?: string;
  door_id?: string;
  site_id?: string;
  schedule_id?: string;
  valid_from?: string;
  valid_until?: string;
  max_uses?: number;
  uses?: number;
}

// Every kind a feed may carry, by its name in the protocol.
export interface KindMap {
  site: Site;
  door: Door;
  unit: Unit;
  user: User;
  group: Group;
  schedule: Schedule;
  grant: Grant;
}
export type Kind = keyof KindMap;
export const KINDS: readonly Kind[] = ['site', 'door', 'unit', 'user', 'group', 'schedule', 'grant'];
export const PLURAL: Record<Kind, string> = {
  site: 'sites',
  door: 'doors',
  unit: 'units',
  user: 'users',
  group: 'groups',
  schedule: 'schedules',
  grant: 'grants',
};
export type AnyRecord = KindMap[Kind];
// What a create or update sends: the record's own fields (no id, version or timestamps).
export type Fields<K extends Kind> = Partial<Omit<KindMap[K], keyof Meta | 'uses'>> & {
  password?: string;
};

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Me {
  user: User;
  org: { id: string; name: string };
}

export interface LoginResult {
  token: string;
  expires_at: string;
  user: User;
}

export type DenyReason =
  | 'user_disabled'
  | 'no_grant'
  | 'outside_schedule'
  | 'not_yet_valid'
  | 'uses_exhausted'
  | 'expired'
  | 'lockdown';
export type Reason = 'granted' | DenyReason;

export interface AccessCheck {
  user_id: string;
  door_id: string;
  at: string;
  allowed: boolean;
  reason: Reason;
  next_change: string | null;
  grant_id: string | null;
  group_id?: string | null;
}

export interface MyDoorGrant {
  grant_id: string;
  group_id?: string | null;
  schedule: Pick<Schedule, 'id' | 'name' | 'windows' | 'exceptions'> | null;
  valid_from?: string | null;
  valid_until?: string | null;
  max_uses?: number | null;
  remaining_uses?: number | null;
}
export interface MyDoor {
  id: string;
  door: Door;
  site: { id: string; name: string; timezone: string };
  allowed_now: boolean;
  reason: Reason;
  next_change: string | null;
  grants: MyDoorGrant[];
}

export interface OpenResult {
  result: 'opened';
  door_id: string;
  unit_id: string;
  command_id: string;
  grant_id: string | null;
  at: string;
}

export interface AuditEntry {
  seq?: number;
  at: string;
  actor_id: string;
  action: string;
  entity_id: string;
  site_id: string | null;
  before?: unknown;
  after: Record<string, unknown> | null;
}

export interface DeviceFeed {
  feed: string;
  acked_seq: number;
  latest_seq: number;
  behind: number;
}
export interface Device {
  id: string;
  kind: 'app' | 'unit' | 'console' | string;
  name: string;
  user_id: string | null;
  unit_id: string | null;
  connected: boolean;
  last_seen: string;
  up_to_date?: boolean;
  feeds: DeviceFeed[];
}

// Guest invitations (POST /v1/invitations).
export interface InvitationLink {
  code: string;
  path: string; // "/app/#code=…": the server's address before it makes the link
  expires_at: string;
}
export interface InvitationRequest {
  name: string;
  email?: string;
  phone?: string;
  door_ids?: string[];
  site_id?: string;
  schedule_id?: string;
  valid_from?: string;
  valid_until?: string;
  max_uses?: number | string;
}
export interface Invitation {
  id: string; // the guest's user id
  user: User;
  grants: Grant[];
  link: InvitationLink;
}

export interface Enrollment {
  unit_id: string;
  code: string;
  expires_at: string;
}

// Push protocol messages from the server.
export type Change =
  | { op: 'put'; kind: Kind; id: string; record: AnyRecord }
  | { op: 'delete'; kind: Kind; id: string };

export interface ReadyFeed {
  feed: string;
  epoch: string;
  seq: number;
  resumed: boolean;
}
export type ServerMessage =
  | {
      type: 'ready';
      session: string;
      server_time: string;
      identity: { kind: 'user' | 'unit'; id: string; org_id: string; role?: Role };
      feeds: ReadyFeed[];
    }
  | {
      type: 'snapshot';
      feed: string;
      epoch: string;
      seq: number;
      records: { kind: Kind; record: AnyRecord }[];
    }
  | { type: 'change'; feed: string; epoch: string; seq: number; change: Change }
  | { type: 'device'; feed: string; device: Device }
  | { type: 'event'; feed: string; event: AuditEntry }
  | { type: 'revoked'; reason: string }
  | { type: 'error'; code: string; message: string; id?: string }
  | { type: 'pong' }
  | { type: 'open_result'; request_id?: string; status: number };
