// The console's views beyond plain lists: live events, doors with remote open, sites with
// lockdown, units with enrollment, devices (sync status), the access check and the audit log.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import type { AccessCheck, AuditEntry, Door, Enrollment, Site, Unit } from '../lib/types';
import { dateTime, localInput, timeOnly, zonedToRfc3339 } from '../lib/time';
import { Confirm, CopyButton, Dialog, Field, errorText, toast } from '../ui/ui';
import { ResourceView, type KindSpec } from './ResourceView';
import { ScheduleEditor } from './ScheduleEditor';
import { REASON_TEXT, anyName, nameOf } from './names';
import { doorSpec, scheduleColumns, siteSpec, unitColumns } from './specs';
import { deviceKey, state, useConsole } from './state';
import { SyncBadge } from './sync';

// One line for a live event.
export function eventText(e: AuditEntry): { text: string; tone: 'ok' | 'bad' | 'warn' | 'info' } {
  const a = (e.after ?? {}) as Record<string, unknown>;
  const push = state.push;
  const door = nameOf(push, 'door', (a.door_id as string) ?? e.entity_id);
  switch (e.action) {
    case 'door.open': {
      const who = nameOf(push, 'user', (a.user_id as string) ?? e.actor_id);
      const via = a.via === 'stream' ? 'app' : 'API';
      if (a.result === 'opened') return { text: `${door} opened by ${who} (${via})`, tone: 'ok' };
      if (a.result === 'denied')
        return { text: `${door}: ${who} denied — ${REASON_TEXT[String(a.reason)] ?? String(a.reason)}`, tone: 'bad' };
      const why: Record<string, string> = {
        no_unit: 'no unit drives the door',
        unit_offline: 'the unit is offline',
        unit_timeout: 'the unit did not answer',
        unit_lost: 'the unit disconnected with the command in flight (it may have opened)',
        failed: 'the unit could not open it',
        expired: 'the command expired',
        not_sent: 'the server stopped before sending the command',
        unknown: 'the server stopped before the unit answered (it may have opened)',
      };
      return { text: `${door}: ${who}'s open failed — ${why[String(a.result)] ?? String(a.result)}`, tone: 'warn' };
    }
    case 'door.open_granted': {
      const who = nameOf(push, 'user', (a.user_id as string) ?? e.actor_id);
      return { text: `${door}: ${who} allowed, command sent to the unit`, tone: 'info' };
    }
    case 'door.forced':
      return { text: `${door} forced open`, tone: 'bad' };
    case 'door.held_open':
      return { text: `${door} held open`, tone: 'warn' };
    case 'door.opened':
      return { text: `${door} opened`, tone: 'info' };
    case 'door.closed':
      return { text: `${door} closed`, tone: 'info' };
    case 'unit.connected':
      return { text: `${nameOf(push, 'unit', e.entity_id)} online`, tone: 'ok' };
    case 'unit.disconnected':
      return { text: `${nameOf(push, 'unit', e.entity_id)} offline`, tone: 'warn' };
    default:
      return { text: `${e.action} ${anyName(push, e.entity_id)}`, tone: 'info' };
  }
}

export function LiveView() {
  const s = useConsole();
  const [filter, setFilter] = useState('all');
  const events = s.events.filter((e) =>
    filter === 'all'
      ? true
      : filter === 'opens'
        ? e.action === 'door.open'
        : filter === 'denied'
          ? e.action === 'door.open' && (e.after as { result?: string } | null)?.result !== 'opened'
          : filter === 'units'
            ? e.action.startsWith('unit.')
            : e.action === 'door.forced' || e.action === 'door.held_open',
  );
  return (
    <section class="view" aria-labelledby="view-title">
      <div class="view-head">
        <h1 id="view-title">Live</h1>
        <label class="inline">
          Show{' '}
          <select value={filter} onChange={(e) => setFilter(e.currentTarget.value)}>
            <option value="all">everything</option>
            <option value="opens">opens</option>
            <option value="denied">denied and failed opens</option>
            <option value="units">units online/offline</option>
            <option value="alarms">doors held open or forced</option>
          </select>
        </label>
      </div>
      <div class="live-grid">
        <div>
          <h2>Events</h2>
          {events.length === 0 ? (
            <p class="empty">Nothing yet. Opens, denials, units and door alarms appear here as they happen.</p>
          ) : (
            <ol class="events" aria-live="polite">
              {events.slice(0, 100).map((e, i) => {
                const t = eventText(e);
                return (
                  <li key={e.at + e.action + e.entity_id + i} class={`event ${t.tone}`} data-action={e.action}>
                    <time dateTime={e.at}>{timeOnly(e.at)}</time> <span>{t.text}</span>
                  </li>
                );
              })}
            </ol>
          )}
        </div>
        <div>
          <h2>Sites</h2>
          <ul class="cards">
            {(s.push?.all('site') ?? []).map((site) => (
              <li key={site.id} class="card">
                <strong>{site.name}</strong> <span class="muted">{site.timezone}</span>
                <LockdownToggle site={site} />
              </li>
            ))}
          </ul>
        </div>
      </div>
    </section>
  );
}

export function LockdownToggle(p: { site: Site }) {
  const [asking, setAsking] = useState(false);
  const on = !!p.site.lockdown;
  return (
    <>
      <button type="button" class={on ? 'danger' : ''} aria-pressed={on} onClick={() => setAsking(true)}>
        {on ? 'Locked down — lift' : 'Lock down'}
      </button>
      {asking && (
        <Confirm
          title={on ? `Lift the lockdown of ${p.site.name}?` : `Lock down ${p.site.name}?`}
          message={
            on
              ? 'Doors at this site open again for everyone their grants allow.'
              : 'Every open at this site will be refused until you lift it (an owner can still override). Apps and units get it at once.'
          }
          confirm={on ? 'Lift lockdown' : 'Lock down'}
          danger={!on}
          onConfirm={async () => {
            await state.api.update('site', p.site.id, { lockdown: !on });
            toast(on ? `${p.site.name}: lockdown lifted` : `${p.site.name} is locked down`, 'ok');
          }}
          onClose={() => setAsking(false)}
        />
      )}
    </>
  );
}

// Remote open, as the signed-in admin (her grants decide, like anyone's). During a lockdown
// an owner may override it, after saying so.
function OpenButton(p: { door: Door }) {
  const s = useConsole();
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const site = s.push?.get('site', p.door.site_id);
  const open = async (override: boolean) => {
    setBusy(true);
    try {
      await state.api.open(p.door.id, override);
      toast(`${p.door.name} opened`, 'ok');
    } catch (e) {
      const reason = e instanceof ApiError && e.reason ? `: ${REASON_TEXT[e.reason] ?? e.reason}` : '';
      toast(`${p.door.name} did not open — ${errorText(e)}${reason}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        disabled={busy}
        onClick={() => (site?.lockdown && s.me?.user.role === 'owner' ? setAsking(true) : void open(false))}
      >
        Open
      </button>
      {asking && (
        <Confirm
          title={`Open ${p.door.name} during the lockdown?`}
          message={`${site?.name ?? 'The site'} is locked down. As an owner you may override it for this one open; it is logged as an override.`}
          confirm="Open anyway"
          danger
          onConfirm={() => open(true)}
          onClose={() => setAsking(false)}
        />
      )}
    </>
  );
}

const doorsWithOpen: KindSpec<'door'> = { ...doorSpec, actions: (r) => <OpenButton door={r} /> };
export const DoorsView = () => <ResourceView spec={doorsWithOpen} />;

const sitesWithLockdown: KindSpec<'site'> = { ...siteSpec, actions: (r) => <LockdownToggle site={r} /> };
export const SitesView = () => <ResourceView spec={sitesWithLockdown} />;

const scheduleSpec: KindSpec<'schedule'> = {
  kind: 'schedule',
  title: 'Schedules',
  singular: 'Schedule',
  columns: scheduleColumns,
  searchText: (r) => r.name,
  fields: [],
  initial: () => ({}),
  fromRecord: () => ({}),
  editor: (p) => <ScheduleEditor record={p.record} onClose={p.onClose} />,
};
export const SchedulesView = () => <ResourceView spec={scheduleSpec} />;

function EnrollDialog(p: { unit: Unit; onClose: () => void }) {
  const [enr, setEnr] = useState<Enrollment | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    state.api.enrollment(p.unit.id).then(setEnr, (e) => setErr(errorText(e)));
  }, []);
  const cmd = enr ? `portier-unit enroll --server ${location.origin} --code ${enr.code} --state /var/lib/portier-unit` : '';
  return (
    <Dialog title={`Enroll “${p.unit.name}”`} onClose={p.onClose}>
      <div class="dialog-body">
        {err && (
          <p class="error" role="alert">
            {err}
          </p>
        )}
        {!enr && !err && <p>Creating a code…</p>}
        {enr && (
          <>
            <p>
              This code is shown once. It is single-use and valid until {dateTime(enr.expires_at)}; a new code replaces it.
            </p>
            <p class="code-line">
              <code class="enroll-code">{enr.code}</code> <CopyButton text={enr.code} label="Copy code" />
            </p>
            <p>On the unit, run:</p>
            <pre class="cmd">
              <code>{cmd}</code>
            </pre>
            <CopyButton text={cmd} label="Copy command" />
          </>
        )}
      </div>
      <footer>
        <button type="button" class="primary" onClick={p.onClose}>
          Done
        </button>
      </footer>
    </Dialog>
  );
}

function UnitActions(p: { unit: Unit }) {
  const [enrolling, setEnrolling] = useState(false);
  const [revoking, setRevoking] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setEnrolling(true)}>
        Enrollment code
      </button>
      <button type="button" class="danger-text" onClick={() => setRevoking(true)}>
        Revoke credential
      </button>
      {enrolling && <EnrollDialog unit={p.unit} onClose={() => setEnrolling(false)} />}
      {revoking && (
        <Confirm
          title={`Revoke “${p.unit.name}”?`}
          message="Its credential and unused codes stop working and it is disconnected at once. The unit and its doors stay; a new enrollment code brings it back."
          confirm="Revoke"
          danger
          onConfirm={async () => {
            await state.api.revokeUnit(p.unit.id);
            toast(`${p.unit.name} revoked`, 'ok');
          }}
          onClose={() => setRevoking(false)}
        />
      )}
    </>
  );
}

const unitSpec: KindSpec<'unit'> = {
  kind: 'unit',
  title: 'Units',
  singular: 'Unit',
  columns: unitColumns,
  searchText: (r) => r.name,
  fields: [
    { name: 'name', label: 'Name', type: 'text' },
    {
      name: 'door_ids',
      label: 'Doors it drives',
      type: 'multi',
      options: () =>
        (state.push?.all('door') ?? []).map((d) => ({ value: d.id, label: `${d.name} (${nameOf(state.push, 'site', d.site_id)})` })),
    },
  ],
  initial: () => ({ name: '', door_ids: [] }),
  fromRecord: (r) => ({ name: r.name, door_ids: r.door_ids }),
  actions: (r) => <UnitActions unit={r} />,
};
export const UnitsView = () => <ResourceView spec={unitSpec} />;

export function DevicesView() {
  const s = useConsole();
  const list = [...s.devices.values()].sort(
    (a, b) => Number(b.connected) - Number(a.connected) || a.name.localeCompare(b.name),
  );
  return (
    <section class="view" aria-labelledby="view-title">
      <div class="view-head">
        <h1 id="view-title">Devices</h1>
      </div>
      <p class="hint">
        What each phone, unit and console holds, from its delivery receipts: up to date, how many changes behind, or offline since when.
      </p>
      {list.length === 0 ? (
        <p class="empty">No device has connected since the server started.</p>
      ) : (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Kind</th>
                <th scope="col">Of</th>
                <th scope="col">Sync</th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={deviceKey(d)}>
                  <td data-label="Device">{d.name || d.id}</td>
                  <td data-label="Kind">{d.kind}</td>
                  <td data-label="Of">{d.user_id ? nameOf(s.push, 'user', d.user_id) : nameOf(s.push, 'unit', d.unit_id)}</td>
                  <td data-label="Sync">
                    <SyncBadge device={d} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function AccessView() {
  const s = useConsole();
  const users = (s.push?.all('user') ?? []).sort((a, b) => a.name.localeCompare(b.name));
  const doors = (s.push?.all('door') ?? []).sort((a, b) => a.name.localeCompare(b.name));
  const [userId, setUserId] = useState('');
  const [doorId, setDoorId] = useState('');
  const door = s.push?.get('door', doorId);
  const site = s.push?.get('site', door?.site_id);
  const tz = site?.timezone ?? 'UTC';
  const [at, setAt] = useState(() => localInput(new Date(), tz));
  const [res, setRes] = useState<AccessCheck | null>(null);
  const [err, setErr] = useState<ApiError | null>(null);
  const check = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    setRes(null);
    try {
      setRes(await state.api.accessCheck(userId, doorId, at ? zonedToRfc3339(at, tz) : undefined));
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError(0, 'error', errorText(x)));
    }
  };
  return (
    <section class="view" aria-labelledby="view-title">
      <div class="view-head">
        <h1 id="view-title">Access check</h1>
      </div>
      <p class="hint">Why can (or can't) someone open a door at a given time, and when does that change?</p>
      <form class="inline-form" onSubmit={check}>
        <Field label="Person" error={err?.field === 'user_id' ? err.message : null}>
          {(id) => (
            <select id={id} value={userId} onChange={(e) => setUserId(e.currentTarget.value)}>
              <option value="">Choose a person</option>
              {users.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Door" error={err?.field === 'door_id' ? err.message : null}>
          {(id) => (
            <select id={id} value={doorId} onChange={(e) => setDoorId(e.currentTarget.value)}>
              <option value="">Choose a door</option>
              {doors.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name} ({nameOf(s.push, 'site', d.site_id)})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={`At (${tz})`} error={err?.field === 'at' ? err.message : null}>
          {(id) => <input id={id} type="datetime-local" value={at} onInput={(e) => setAt(e.currentTarget.value)} />}
        </Field>
        <button type="submit" class="primary">
          Check
        </button>
      </form>
      {err && !err.field && (
        <p class="error" role="alert">
          {err.message}
        </p>
      )}
      {res && (
        <div class={`verdict ${res.allowed ? 'ok' : 'bad'}`} role="status">
          <strong>
            {nameOf(s.push, 'user', res.user_id)} {res.allowed ? 'may open' : 'may not open'} {nameOf(s.push, 'door', res.door_id)}
          </strong>{' '}
          at {dateTime(res.at, tz)} ({tz}) — {REASON_TEXT[res.reason] ?? res.reason}.
          <br />
          {res.next_change
            ? `This changes ${dateTime(res.next_change, tz)} (${tz}).`
            : 'Nothing ahead changes this by time alone.'}
        </div>
      )}
    </section>
  );
}

const csvCell = (v: unknown) => {
  const t = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\n\r]/.test(t) || /^[=+\-@]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
};

export function AuditView() {
  const s = useConsole();
  const [kind, setKind] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [items, setItems] = useState<AuditEntry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [err, setErr] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const query = useMemo(
    () => ({
      kind,
      from: from ? new Date(from).toISOString() : '',
      to: to ? new Date(to).toISOString() : '',
    }),
    [kind, from, to],
  );
  const load = async (more: boolean) => {
    setBusy(true);
    setErr(null);
    try {
      const page = await state.api.audit({ ...query, limit: 50, cursor: more && cursor ? cursor : undefined });
      setItems((old) => (more ? [...old, ...page.items] : page.items));
      setCursor(page.next_cursor);
    } catch (e) {
      setErr(e instanceof ApiError ? e : new ApiError(0, 'error', errorText(e)));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => void load(false), [query]);
  const exportCsv = async () => {
    const rows: AuditEntry[] = [];
    let c: string | undefined;
    try {
      for (let i = 0; i < 200; i++) {
        const page = await state.api.audit({ ...query, limit: 500, cursor: c });
        rows.push(...page.items);
        if (!page.next_cursor) break;
        c = page.next_cursor;
      }
    } catch (e) {
      toast(`Export failed: ${errorText(e)}`, 'error');
      return;
    }
    const head = ['seq', 'at', 'action', 'actor', 'actor_id', 'entity', 'entity_id', 'site', 'before', 'after'];
    const lines = rows.map((e) =>
      [e.seq, e.at, e.action, anyName(s.push, e.actor_id), e.actor_id, anyName(s.push, e.entity_id), e.entity_id, nameOf(s.push, 'site', e.site_id), e.before, e.after]
        .map(csvCell)
        .join(','),
    );
    const blob = new Blob([[head.join(','), ...lines].join('\r\n') + '\r\n'], { type: 'text/csv' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `portier-audit-${new Date().toISOString().slice(0, 10)}.csv`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };
  return (
    <section class="view" aria-labelledby="view-title">
      <div class="view-head">
        <h1 id="view-title">Audit log</h1>
        <button type="button" onClick={exportCsv}>
          Export CSV
        </button>
      </div>
      <form class="inline-form" onSubmit={(e) => e.preventDefault()}>
        <Field label="What" error={err?.field === 'kind' ? err.message : null}>
          {(id) => (
            <select id={id} value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
              <option value="">everything</option>
              <option value="door.open">open attempts</option>
              <option value="door">doors (changes, opens, alarms)</option>
              <option value="unit">units</option>
              <option value="user">users</option>
              <option value="grant">grants</option>
              <option value="schedule">schedules</option>
              <option value="group">groups</option>
              <option value="invitation">invitations</option>
              <option value="site">sites</option>
            </select>
          )}
        </Field>
        <Field label="From (your time)" error={err?.field === 'from' ? err.message : null}>
          {(id) => <input id={id} type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />}
        </Field>
        <Field label="Until (your time)" error={err?.field === 'to' ? err.message : null}>
          {(id) => <input id={id} type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} />}
        </Field>
      </form>
      {err && !err.field && (
        <p class="error" role="alert">
          {err.message}
        </p>
      )}
      <div class="table-wrap">
        <table class="list">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">On</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.seq}>
                <td data-label="When">{dateTime(e.at)}</td>
                <td data-label="Who">{anyName(s.push, e.actor_id)}</td>
                <td data-label="What">{e.action.startsWith('door.') || e.action.startsWith('unit.c') ? eventText(e).text : e.action}</td>
                <td data-label="On">{auditSubject(e)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {items.length === 0 && !busy && <p class="empty">No entries.</p>}
      {cursor && (
        <button type="button" disabled={busy} onClick={() => load(true)}>
          Load more
        </button>
      )}
    </section>
  );
}

// The entity an entry is about, by name, even when it has since been deleted.
function auditSubject(e: AuditEntry): string {
  const live = anyName(state.push, e.entity_id);
  if (!live.startsWith('(deleted') && live !== 'someone') return live;
  const rec = (e.after ?? e.before) as { name?: string } | null;
  return rec?.name ? `${rec.name} (deleted)` : live;
}
