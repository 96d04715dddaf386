// Guest invitations: invite a guest (her doors, when, until when, how many times), then hand
// her the single-use sign-in link — copied, as a QR code, or through the admin's own mail or
// messages app (portier sends nothing itself). The list is read from the live feed: the
// guests, their grants and whether they are active; a new link; ending an invitation now.
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import type { Grant, InvitationLink, InvitationRequest, User } from '../lib/types';
import { dateTime } from '../lib/time';
import { Confirm, CopyButton, Dialog, errorText, toast } from '../ui/ui';
import { FormFields, type FieldSpec, type FormValue, type FormValues, type Option } from './ResourceView';
import { nameOf } from './names';
import { Qr } from './Qr';
import { state, useConsole } from './state';
import { SyncBadge, devicesOf } from './sync';

const all = <K extends Parameters<NonNullable<typeof state.push>['all']>[0]>(k: K) => state.push?.all(k) ?? [];
const opts = <T extends { id: string; name: string }>(list: T[], empty?: string): Option[] => [
  ...(empty !== undefined ? [{ value: '', label: empty }] : []),
  ...[...list].sort((a, b) => a.name.localeCompare(b.name)).map((r) => ({ value: r.id, label: r.name })),
];

// Guests invited by phone alone carry a placeholder address that reaches no one.
export function contactOf(u: User): string {
  return [u.email.endsWith('@guest.invalid') ? '' : u.email, u.phone ?? ''].filter(Boolean).join(' · ');
}

const FIELDS: FieldSpec[] = [
  { name: 'name', label: "Guest's name", type: 'text' },
  { name: 'email', label: 'Email', type: 'email', hint: 'Email or phone (or both): where you will send the link' },
  { name: 'phone', label: 'Phone', type: 'text', autocomplete: 'off' },
  {
    name: 'target',
    label: 'Opens',
    type: 'select',
    virtual: true,
    options: () => [
      { value: 'doors', label: 'the doors I choose' },
      { value: 'site', label: 'every door of a site' },
    ],
  },
  {
    name: 'door_ids',
    label: 'Doors',
    type: 'multi',
    show: (v) => v.target !== 'site',
    options: () => opts(all('door').map((d) => ({ ...d, name: `${d.name} (${nameOf(state.push, 'site', d.site_id)})` }))),
  },
  { name: 'site_id', label: 'Site', type: 'select', show: (v) => v.target === 'site', options: () => opts(all('site'), 'Choose a site') },
  { name: 'schedule_id', label: 'When', type: 'select', options: () => opts(all('schedule'), 'At any time') },
  { name: 'valid_from', label: 'From (your time)', type: 'datetime', hint: 'Empty: now' },
  { name: 'valid_until', label: 'Until (your time)', type: 'datetime', hint: 'Her access, and her link, end then' },
  { name: 'max_uses', label: 'Use limit (per door)', type: 'number', hint: 'Empty: unlimited' },
];

// A datetime-local value (the viewer's zone) for an instant.
function localValue(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const instant = (local: FormValue | undefined) =>
  typeof local === 'string' && local ? new Date(local).toISOString().replace('.000Z', 'Z') : undefined;

export function invitationBody(v: FormValues): InvitationRequest {
  const text = (k: string) => (typeof v[k] === 'string' ? (v[k] as string).trim() : '');
  const body: InvitationRequest = { name: text('name') };
  if (text('email')) body.email = text('email');
  if (text('phone')) body.phone = text('phone');
  if (v.target === 'site') body.site_id = text('site_id');
  else body.door_ids = Array.isArray(v.door_ids) ? v.door_ids : [];
  if (text('schedule_id')) body.schedule_id = text('schedule_id');
  const from = instant(v.valid_from);
  if (from) body.valid_from = from;
  const until = instant(v.valid_until);
  if (until) body.valid_until = until;
  if (text('max_uses')) body.max_uses = /^\d+$/.test(text('max_uses')) ? Number(text('max_uses')) : text('max_uses');
  return body;
}

function InviteForm(p: { onDone: (user: User, link: InvitationLink) => void; onClose: () => void }) {
  const [values, setValues] = useState<FormValues>(() => {
    const until = new Date(Date.now() + 86400_000);
    until.setMinutes(0, 0, 0);
    return { name: '', email: '', phone: '', target: 'doors', door_ids: [], site_id: '', schedule_id: '', valid_from: '', valid_until: localValue(until), max_uses: '' };
  });
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title="Invite a guest" onClose={p.onClose}>
      <form
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const res = await state.api.invite(invitationBody(values));
            toast(`${res.user.name} is invited`, 'ok');
            p.onDone(res.user, res.link);
          } catch (x) {
            setError(x instanceof ApiError ? x : new ApiError(0, 'error', errorText(x)));
            setBusy(false);
          }
        }}
      >
        <div class="dialog-body">
          {error && (
            <p class="error" role="alert">
              {error.field && FIELDS.some((f) => error.field === f.name || error.field.startsWith(`${f.name}[`))
                ? 'Nothing was saved: fix the field marked below.'
                : error.message}
            </p>
          )}
          <FormFields fields={FIELDS} values={values} set={(n, v) => setValues((old) => ({ ...old, [n]: v }))} error={error} creating />
        </div>
        <footer>
          <button type="button" onClick={p.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Invite
          </button>
        </footer>
      </form>
    </Dialog>
  );
}

// The link, shown once: copy it, scan it, or hand it to the admin's own mail or messages app.
function LinkDialog(p: { user: User; link: InvitationLink; onClose: () => void }) {
  const url = `${location.origin}${p.link.path}`;
  const first = p.user.name.split(' ')[0] ?? p.user.name;
  const message = `Hello ${first}, this link lets you open the doors you are invited to (until ${dateTime(p.link.expires_at)}): ${url}`;
  const email = p.user.email.endsWith('@guest.invalid') ? '' : p.user.email;
  return (
    <Dialog title={`Invitation link for ${p.user.name}`} onClose={p.onClose} wide>
      <div class="dialog-body">
        <p>
          Send it to {p.user.name} yourself: portier sends no mail or messages. It signs her into the app once, without a password,
          and works until {dateTime(p.link.expires_at)} — or until you end the invitation. It is shown only now (“New link” makes
          another, and this one then stops working).
        </p>
        <p class="code-line">
          <code class="link-text" data-invite-link>
            {url}
          </code>{' '}
          <CopyButton text={url} label="Copy link" />
        </p>
        <Qr text={url} label={`QR code of ${p.user.name}'s sign-in link`} />
        <p class="row-links">
          {email && <a href={`mailto:${encodeURIComponent(email)}?subject=${encodeURIComponent('Your door access')}&body=${encodeURIComponent(message)}`}>Write an email</a>}
          {p.user.phone && <a href={`sms:${p.user.phone.replace(/[^\d+]/g, '')}?body=${encodeURIComponent(message)}`}>Send a text message</a>}
        </p>
      </div>
      <footer>
        <button type="button" class="primary" onClick={p.onClose}>
          Done
        </button>
      </footer>
    </Dialog>
  );
}

type Status = { key: 'active' | 'upcoming' | 'ended'; text: string };

export function guestStatus(grants: Grant[], now: number): Status {
  const live = grants.filter((g) => !g.valid_until || Date.parse(g.valid_until) > now);
  if (!live.length) return { key: 'ended', text: 'ended' };
  const ends = live.some((g) => !g.valid_until) ? null : Math.max(...live.map((g) => Date.parse(g.valid_until as string)));
  const started = live.some((g) => !g.valid_from || Date.parse(g.valid_from) <= now);
  if (!started) {
    const from = Math.min(...live.map((g) => Date.parse(g.valid_from as string)));
    return { key: 'upcoming', text: `from ${dateTime(new Date(from).toISOString())}` };
  }
  return { key: 'active', text: ends === null ? 'active' : `active until ${dateTime(new Date(ends).toISOString())}` };
}

function opensText(grants: Grant[]): string {
  return (
    grants
      .map((g) => (g.door_id ? nameOf(state.push, 'door', g.door_id) : `all of ${nameOf(state.push, 'site', g.site_id)}`))
      .join(', ') || '—'
  );
}

function GuestRow(p: { user: User; grants: Grant[]; now: number; onLink: (u: User, l: InvitationLink) => void }) {
  const s = useConsole();
  const [ending, setEnding] = useState(false);
  const [removing, setRemoving] = useState(false);
  const [busy, setBusy] = useState(false);
  const { user, grants } = p;
  const status = guestStatus(grants, p.now);
  const g = grants[0];
  const apps = devicesOf(s.devices, (d) => d.user_id === user.id && d.kind === 'app');
  return (
    <tr data-id={user.id} data-status={status.key}>
      <td data-label="Guest">
        <span class="user-name">{user.name}</span>
        <span class="hint">{contactOf(user)}</span>
      </td>
      <td data-label="Opens">{opensText(grants)}</td>
      <td data-label="When">{g?.schedule_id ? nameOf(s.push, 'schedule', g.schedule_id) : g ? 'any time' : '—'}</td>
      <td data-label="Status">
        <span class={`badge ${status.key === 'active' ? 'ok' : status.key === 'upcoming' ? 'warn' : 'off'}`}>{status.text}</span>
        {g?.max_uses ? <span class="hint">{grants.map((x) => `${x.uses ?? 0} of ${x.max_uses} uses`).join(', ')}</span> : null}
      </td>
      <td data-label="App">{apps.length ? apps.map((d) => <SyncBadge key={d.id} device={d} />) : <span class="muted">not signed in</span>}</td>
      <td class="actions">
        {status.key !== 'ended' && (
          <>
            <button
              type="button"
              disabled={busy}
              onClick={async () => {
                setBusy(true);
                try {
                  p.onLink(user, await state.api.invitationLink(user.id));
                } catch (e) {
                  toast(errorText(e), 'error');
                } finally {
                  setBusy(false);
                }
              }}
            >
              New link
            </button>
            <button type="button" class="danger-text" onClick={() => setEnding(true)}>
              End now
            </button>
          </>
        )}
        {status.key === 'ended' && (
          <button type="button" class="danger-text" onClick={() => setRemoving(true)}>
            Remove
          </button>
        )}
        {ending && (
          <Confirm
            title="End invitation"
            message={`End ${user.name}'s invitation now? Her access and her links stop at once, and her app is signed out.`}
            confirm="End invitation"
            danger
            onConfirm={async () => {
              await state.api.endInvitation(user.id);
              toast(`${user.name}'s invitation ended`, 'ok');
            }}
            onClose={() => setEnding(false)}
          />
        )}
        {removing && (
          <Confirm
            title="Remove guest"
            message={`Remove ${user.name}? The audit log keeps what she did.`}
            confirm="Remove"
            danger
            onConfirm={async () => {
              await state.api.remove('user', user.id);
              toast(`${user.name} removed`, 'ok');
            }}
            onClose={() => setRemoving(false)}
          />
        )}
      </td>
    </tr>
  );
}

export function InvitationsView() {
  const s = useConsole();
  const [inviting, setInviting] = useState(false);
  const [shown, setShown] = useState<{ user: User; link: InvitationLink } | null>(null);
  const [query, setQuery] = useState('');
  const [now, setNow] = useState(Date.now());
  // Invitations start and end by time alone: the status is looked at again every 30 s.
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);
  const q = query.trim().toLowerCase();
  const grants = s.push?.all('grant') ?? [];
  const guests = (s.push?.all('user') ?? [])
    .filter((u) => u.guest)
    .filter((u) => !q || `${u.name} ${contactOf(u)}`.toLowerCase().includes(q))
    .map((u) => ({ user: u, grants: grants.filter((g) => g.user_id === u.id), status: null as Status | null }))
    .map((x) => ({ ...x, status: guestStatus(x.grants, Date.now()) }))
    .sort((a, b) => Number(a.status.key === 'ended') - Number(b.status.key === 'ended') || a.user.name.localeCompare(b.user.name));
  return (
    <section class="view" aria-labelledby="view-title">
      <div class="view-head">
        <h1 id="view-title">Invitations</h1>
        <input
          type="search"
          class="search"
          placeholder="Search guests"
          aria-label="Search guests by name, email or phone"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
        <button type="button" class="primary" onClick={() => setInviting(true)}>
          Invite a guest
        </button>
      </div>
      <p class="hint">
        A guest opens the doors you choose, when you choose, until her invitation ends; a link signs her into the app once,
        without a password. When it ends — or you end it, or delete her grant — her link and her app stop working at once.
      </p>
      {!s.push?.hasData() ? (
        <p class="muted">Loading…</p>
      ) : guests.length === 0 ? (
        <p class="empty">{query ? 'Nothing matches.' : 'No guests yet.'}</p>
      ) : (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Guest</th>
                <th scope="col">Opens</th>
                <th scope="col">When</th>
                <th scope="col">Status</th>
                <th scope="col">App</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {guests.map((x) => (
                <GuestRow key={x.user.id} user={x.user} grants={x.grants} now={now} onLink={(user, link) => setShown({ user, link })} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {inviting && (
        <InviteForm
          onClose={() => setInviting(false)}
          onDone={(user, link) => {
            setInviting(false);
            setShown({ user, link });
          }}
        />
      )}
      {shown && <LinkDialog user={shown.user} link={shown.link} onClose={() => setShown(null)} />}
    </section>
  );
}
