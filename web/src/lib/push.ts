// The push client (docs/protocol.md): one WebSocket to /v1/stream reading one or more feeds,
// keeping a replica of each with its cursor, resuming after any disconnect, acknowledging what
// it applied (delivery receipts), and telling its owner about revocation. Shared by the
// console (org/ or site/ feeds, live events, devices) and the app (user/<id>, persisted).
import type {
  AnyRecord,
  AuditEntry,
  Change,
  Device,
  Kind,
  KindMap,
  ServerMessage,
} from './types';

export interface FeedState {
  feed: string;
  epoch: string | null; // null: holds nothing yet
  seq: number;
  records: Map<string, { kind: Kind; record: AnyRecord }>; // by "kind/id"
}

// What is persisted per feed: cursor and replica, always together.
export interface SavedFeed {
  feed: string;
  epoch: string;
  seq: number;
  records: { kind: Kind; record: AnyRecord }[];
}

export type PushState = 'connecting' | 'live' | 'offline' | 'stopped';
export interface PushStatus {
  state: PushState;
  since: Date; // when this state began
  lastLive: Date | null; // when the replica was last known current
  attempt: number; // reconnect attempts since the last good hello
}

export interface PushOptions {
  url: string;
  token: string;
  device: { id: string; kind: 'app' | 'console'; name: string };
  feeds: string[];
  // Cursor and replica saved by an earlier run (the app keeps them in IndexedDB).
  saved?: SavedFeed[];
  // Persists cursor and replica together; awaited before the ack is sent.
  save?: (feeds: SavedFeed[]) => Promise<void>;
  onData: () => void;
  onStatus?: (s: PushStatus) => void;
  onEvent?: (e: AuditEntry) => void;
  onDevice?: (d: Device) => void;
  // The session ended for good: revoked (4003, with the server's reason) or the token refused
  // at hello ("unauthorized", "user_disabled", "forbidden_feed", "invitation_ended").
  onRevoked: (reason: string) => void;
  // Overridable for tests; the protocol's backoff otherwise.
  backoff?: (attempt: number) => number;
}

export function streamUrl(loc: Location = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/v1/stream`;
}

// Random between half and all of min(10 s, 100 ms × 2^attempt) (docs/protocol.md).
export function protocolBackoff(attempt: number): number {
  const full = Math.min(10_000, 100 * 2 ** Math.min(attempt, 20));
  return full / 2 + Math.random() * (full / 2);
}

const PING_EVERY_MS = 20_000;
const PONG_WITHIN_MS = 10_000;
// Acks wait this long after the first change not yet acknowledged, and up to as long again at
// random, then cover the newest seq of each feed (docs/protocol.md): a burst costs one ack,
// and an edit reaching thousands of devices is not answered by thousands of acks while it is
// still going out, nor by all of them in the same moment after it.
const ACK_DELAY_MS = 250;

export class PushClient {
  readonly feeds = new Map<string, FeedState>();
  status: PushStatus;
  private ws: WebSocket | null = null;
  private stopped = false;
  private revokedReason: string | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private acked = new Map<string, number>();
  private ackDue = new Map<string, number>();
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private flushQueued = false;

  constructor(private readonly opts: PushOptions) {
    for (const f of opts.feeds) this.feeds.set(f, { feed: f, epoch: null, seq: 0, records: new Map() });
    for (const s of opts.saved ?? []) {
      const st = this.feeds.get(s.feed);
      if (!st) continue;
      st.epoch = s.epoch;
      st.seq = s.seq;
      for (const r of s.records) st.records.set(`${r.kind}/${r.record.id}`, r);
    }
    const now = new Date();
    this.status = { state: 'connecting', since: now, lastLive: null, attempt: 0 };
  }

  start(): void {
    this.connect();
  }

  // Ends the session for good (sign-out, a new token): no callbacks after this.
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.sendAcks(); // what was stored is acknowledged before the goodbye
    this.stopTimers();
    if (this.ws) {
      this.ws.onclose = this.ws.onmessage = this.ws.onerror = this.ws.onopen = null;
      this.ws.close(1000);
      this.ws = null;
    }
    this.setState('stopped');
  }

  // Reconnects at once (the network came back, the page became visible).
  nudge(): void {
    if (this.stopped || this.status.state === 'live' || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  // Every record of a kind across the feeds (a record in two site feeds is listed once).
  all<K extends Kind>(kind: K): KindMap[K][] {
    const seen = new Map<string, KindMap[K]>();
    for (const f of this.feeds.values())
      for (const r of f.records.values())
        if (r.kind === kind) {
          const prev = seen.get(r.record.id);
          if (!prev || prev.version < r.record.version) seen.set(r.record.id, r.record as KindMap[K]);
        }
    return [...seen.values()];
  }

  get<K extends Kind>(kind: K, id: string | undefined): KindMap[K] | undefined {
    if (!id) return undefined;
    let best: KindMap[K] | undefined;
    for (const f of this.feeds.values()) {
      const r = f.records.get(`${kind}/${id}`);
      if (r && (!best || best.version < r.record.version)) best = r.record as KindMap[K];
    }
    return best;
  }

  // Whether every feed holds a snapshot or resumed history (something to show).
  hasData(): boolean {
    for (const f of this.feeds.values()) if (f.epoch === null) return false;
    return true;
  }

  private setState(state: PushState): void {
    if (this.status.state === state && state !== 'live') return;
    const now = new Date();
    this.status = {
      state,
      since: this.status.state === state ? this.status.since : now,
      lastLive: state === 'live' ? now : this.status.state === 'live' ? now : this.status.lastLive,
      attempt: this.status.attempt,
    };
    this.opts.onStatus?.(this.status);
  }

  private connect(): void {
    if (this.stopped) return;
    this.setState(this.status.lastLive || this.status.attempt > 0 ? 'offline' : 'connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.opts.url);
    } catch {
      return this.retry();
    }
    this.ws = ws;
    ws.onopen = () => {
      const feeds = [...this.feeds.values()].map((f) =>
        f.epoch === null ? { feed: f.feed } : { feed: f.feed, epoch: f.epoch, seq: f.seq },
      );
      ws.send(JSON.stringify({ type: 'hello', token: this.opts.token, device: this.opts.device, feeds }));
    };
    ws.onmessage = (ev) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(String(ev.data)) as ServerMessage;
      } catch {
        return;
      }
      this.onMessage(ws, msg);
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => this.onClose(ws, ev.code);
  }

  private onMessage(ws: WebSocket, msg: ServerMessage): void {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    this.armPong();
    switch (msg.type) {
      case 'ready':
        this.status.attempt = 0;
        this.acked.clear();
        for (const f of msg.feeds) {
          const st = this.feeds.get(f.feed);
          // Resumed: the server's cursor is ours, so everything up to it is acknowledged.
          if (st && f.resumed) this.acked.set(f.feed, st.seq);
        }
        this.startTimers(ws);
        this.maybeLive();
        return;
      case 'snapshot': {
        const st = this.feeds.get(msg.feed);
        if (!st) return;
        st.epoch = msg.epoch;
        st.seq = msg.seq;
        st.records = new Map(msg.records.map((r) => [`${r.kind}/${r.record.id}`, r]));
        this.applied(st);
        return;
      }
      case 'change': {
        const st = this.feeds.get(msg.feed);
        if (!st) return;
        if (msg.epoch !== st.epoch || msg.seq !== st.seq + 1) {
          // Our replica is not what the server thinks: reconnect with our cursor, never guess.
          ws.close(4000, 'out of order');
          return;
        }
        applyChange(st, msg.change);
        st.seq = msg.seq;
        this.applied(st);
        return;
      }
      case 'event':
        this.opts.onEvent?.(msg.event);
        return;
      case 'device':
        this.opts.onDevice?.(msg.device);
        return;
      case 'revoked':
        this.revokedReason = msg.reason;
        return;
      case 'error':
        if (['unauthorized', 'user_disabled', 'forbidden_feed', 'invitation_ended'].includes(msg.code))
          this.revokedReason = msg.code;
        return;
      default:
        return;
    }
  }

  private applied(_st: FeedState): void {
    this.opts.onData();
    this.maybeLive();
    this.queueFlush();
  }

  // Live once every feed holds data from this session's server.
  private maybeLive(): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.hasData()) this.setState('live');
  }

  // Saves cursor and replica (if the owner persists), then acknowledges the newest seq of
  // each feed; several changes arriving together cost one save and one ack per feed.
  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.flushing = this.flushing.then(async () => {
      this.flushQueued = false;
      if (this.stopped) return; // signed out: nothing more is saved
      const snapshot = [...this.feeds.values()]
        .filter((f) => f.epoch !== null)
        .map((f) => ({ feed: f.feed, epoch: f.epoch as string, seq: f.seq, records: [...f.records.values()] }));
      if (this.opts.save) {
        try {
          await this.opts.save(snapshot);
        } catch {
          // Not persisted: still acknowledge (the replica in memory is applied); the next
          // start resumes from an older cursor and catches up.
        }
      }
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      for (const s of snapshot) {
        if ((this.acked.get(s.feed) ?? -1) >= s.seq) continue;
        this.ackDue.set(s.feed, Math.max(this.ackDue.get(s.feed) ?? -1, s.seq));
      }
      if (this.ackDue.size > 0 && this.ackTimer === undefined)
        this.ackTimer = setTimeout(() => this.sendAcks(), ACK_DELAY_MS * (1 + Math.random()));
    });
  }

  private sendAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      for (const [feed, seq] of this.ackDue) {
        if ((this.acked.get(feed) ?? -1) >= seq) continue;
        ws.send(JSON.stringify({ type: 'ack', feed, seq }));
        this.acked.set(feed, seq);
      }
    }
    this.ackDue.clear();
  }

  private onClose(ws: WebSocket, code: number): void {
    if (ws !== this.ws) return;
    this.ws = null;
    this.stopTimers();
    if (this.stopped) return;
    if (code === 4003 || (code === 1008 && this.revokedReason)) {
      this.stopped = true;
      this.setState('stopped');
      this.opts.onRevoked(this.revokedReason ?? 'revoked');
      return;
    }
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    this.setState('offline');
    const wait = (this.opts.backoff ?? protocolBackoff)(this.status.attempt);
    this.status.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  // An application ping now and then: a connection that silently died (a phone changing
  // networks) is noticed within PONG_WITHIN_MS and replaced.
  private startTimers(ws: WebSocket): void {
    this.stopTimers();
    this.pingTimer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send('{"type":"ping"}');
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => ws.close(4000, 'no pong'), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }
  private armPong(): void {
    clearTimeout(this.pongTimer);
  }
  private stopTimers(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    // Acks belong to the connection: the next one resumes from the cursor instead.
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.ackDue.clear();
  }
}

function applyChange(st: FeedState, c: Change): void {
  const key = `${c.kind}/${c.id}`;
  if (c.op === 'put') st.records.set(key, { kind: c.kind, record: c.record });
  else st.records.delete(key);
}
