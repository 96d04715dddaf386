// The app: my doors, each with whether I may open it now (or when next), a large open
// button with the outcome in words, and my schedule; a live/offline indicator; my password.
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import { dateTime, dayTime, timeOnly, windowText, zoneDiffers } from '../lib/time';
import { DENY_TEXT } from '../lib/words';
import { WeekGrid } from '../ui/WeekGrid';
import { Field, errorText } from '../ui/ui';
import { INVITATION_ENDED, app, useApp, type DoorView, type LinkProblem } from './state';

// A page for a link that did not sign her in, or an invitation that ended: what happened and
// what to do, with the password form one tap away (for members).
function LinkProblemPage(p: { problem: LinkProblem }) {
  const a = useApp();
  return (
    <main class="signin" id="main">
      <section class="panel link-problem" aria-labelledby="problem-title" data-problem>
        <p class="brand">
          <span class="logo" aria-hidden="true" /> portier
        </p>
        <h1 id="problem-title">{p.problem.title}</h1>
        <p role="alert">{p.problem.text}</p>
        <button
          type="button"
          class="link"
          onClick={() => {
            a.linkProblem = null;
            a.changed();
          }}
        >
          Sign in with email and password instead
        </button>
      </section>
    </main>
  );
}

function SignIn() {
  const a = useApp();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin" id="main">
      <form
        class="panel"
        aria-labelledby="signin-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setErr(null);
          try {
            await a.login(email, password);
          } catch (x) {
            setErr(x instanceof ApiError && x.code === 'invalid_credentials' ? 'Wrong email or password.' : errorText(x));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="signin-title">
          <span class="logo" aria-hidden="true" /> portier
        </h1>
        {a.signedOutReason && (
          <p class="notice" role="alert" data-reason>
            {a.signedOutReason}
          </p>
        )}
        {err && (
          <p class="error" role="alert">
            {err}
          </p>
        )}
        <Field label="Email">
          {(id) => <input id={id} type="email" autocomplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label="Password">
          {(id) => (
            <input
              id={id}
              type="password"
              autocomplete="current-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          )}
        </Field>
        <button type="submit" class="primary big" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function Indicator() {
  const a = useApp();
  const st = a.status;
  if (!st) return null;
  if (st.state === 'live')
    return (
      <p class="indicator live" role="status" data-state="live">
        <span class="dot" aria-hidden="true" /> Live
      </p>
    );
  const since = st.lastLive ?? (a.myDoorsAt ? new Date(a.myDoorsAt) : null);
  return (
    <p class={`indicator ${st.state}`} role="status" data-state={st.state}>
      <span class="dot" aria-hidden="true" />
      {st.state === 'connecting' && !a.push?.hasData()
        ? 'Connecting…'
        : `Offline — showing what was known${since ? ` at ${dateTime(since.toISOString())}` : ''}. Reconnecting…`}
    </p>
  );
}

// "You can open now · until 20:00" / "Next window: Tue 18:00 (your time: Tue 17:00)".
function Verdict(p: { v: DoorView; stale: boolean }) {
  const s = p.v.status;
  const tz = p.v.site?.timezone ?? 'UTC';
  if (!s)
    return (
      <p class="verdict muted" data-verdict="unknown">
        {p.stale ? 'Not known offline' : p.v.grants.length ? 'Checking…' : 'No access'}
      </p>
    );
  const when = (iso: string) => {
    const site = dayTime(iso, tz);
    const mine = dayTime(iso, Intl.DateTimeFormat().resolvedOptions().timeZone);
    return zoneDiffers(tz, new Date(iso)) ? `${site} (${tz}; your time: ${mine})` : site;
  };
  if (s.allowed_now)
    return (
      <p class="verdict ok" data-verdict="allowed">
        You can open now{s.next_change ? ` · until ${when(s.next_change)}` : ''}
      </p>
    );
  return (
    <p class="verdict no" data-verdict="denied">
      Not now: {DENY_TEXT[s.reason] ?? s.reason}
      {s.next_change ? ` · next window: ${when(s.next_change)}` : ''}
    </p>
  );
}

type Outcome = { tone: 'ok' | 'bad' | 'warn'; text: string };

function outcomeOf(e: unknown, tz: string): Outcome {
  if (!(e instanceof ApiError)) return { tone: 'bad', text: errorText(e) };
  switch (e.code) {
    case 'access_denied':
      return {
        tone: 'bad',
        text: `Not allowed now: ${DENY_TEXT[e.reason ?? ''] ?? e.reason ?? e.message}${
          e.nextChange ? `. Next window: ${dayTime(e.nextChange, tz)}` : ''
        }.`,
      };
    case 'unit_offline':
      return { tone: 'warn', text: "The door's unit is offline: it did not open." };
    case 'no_unit':
      return { tone: 'warn', text: 'This door has no unit to open it yet.' };
    case 'unit_timeout':
      return { tone: 'warn', text: 'Timed out: the door did not answer and did not open.' };
    case 'unit_lost':
      return { tone: 'warn', text: "The door's unit went offline mid-open: the door may have opened." };
    case 'unit_failed':
      return { tone: 'bad', text: `The door could not open: ${e.message}.` };
    case 'network':
      return { tone: 'warn', text: "You're offline: the server cannot be reached." };
    default:
      return { tone: 'bad', text: e.message };
  }
}

function DoorCard(p: { v: DoorView; stale: boolean }) {
  const { door, site } = p.v;
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [showSchedule, setShowSchedule] = useState(false);
  const tz = site?.timezone ?? 'UTC';
  return (
    <li class={`door${p.stale ? ' stale' : ''}`} data-door={door.id}>
      <div class="door-head">
        <h2>{door.name}</h2>
        <span class="muted">
          {site?.name ?? ''} · {door.kind}
        </span>
      </div>
      {site?.lockdown && <p class="notice">{site.name} is locked down.</p>}
      <Verdict v={p.v} stale={p.stale} />
      <button
        type="button"
        class="open"
        disabled={busy}
        aria-describedby={`outcome-${door.id}`}
        onClick={async () => {
          setBusy(true);
          setOutcome({ tone: 'warn', text: 'Opening…' });
          try {
            await app.api.open(door.id);
            setOutcome({ tone: 'ok', text: `Opened at ${timeOnly(new Date().toISOString())}.` });
          } catch (e) {
            setOutcome(outcomeOf(e, tz));
          } finally {
            setBusy(false);
          }
        }}
      >
        Open {door.name}
      </button>
      <p id={`outcome-${door.id}`} class={`outcome ${outcome?.tone ?? ''}`} role="status" aria-live="polite">
        {outcome?.text ?? ''}
      </p>
      <button type="button" class="link" aria-expanded={showSchedule} onClick={() => setShowSchedule(!showSchedule)}>
        {showSchedule ? 'Hide my schedule' : 'My schedule'}
      </button>
      {showSchedule && <Schedules v={p.v} />}
      <ul class="windows-text" aria-label={`when you may open ${door.name}`}>
        {p.v.grants.map(({ grant, schedule }) => (
          <li key={grant.id}>
            {schedule ? schedule.windows.map((w) => windowText(w)).join('; ') || `${schedule.name}: no weekly hours` : 'Any time'}
            {grant.valid_until ? ` · until ${dateTime(grant.valid_until, tz)}` : ''}
            {grant.max_uses ? ` · ${Math.max(0, grant.max_uses - (grant.uses ?? 0))} of ${grant.max_uses} uses left` : ''}
          </li>
        ))}
      </ul>
    </li>
  );
}

function Schedules(p: { v: DoorView }) {
  const tz = p.v.site?.timezone;
  return (
    <div class="schedules">
      {p.v.grants.map(({ grant, schedule }) =>
        schedule ? (
          <div key={grant.id}>
            <h3>{schedule.name}</h3>
            <WeekGrid windows={schedule.windows} timezone={tz} label={`${schedule.name}, weekly`} />
            {(schedule.exceptions ?? []).length > 0 && (
              <ul class="exceptions">
                {(schedule.exceptions ?? []).map((x) => (
                  <li key={x.date}>
                    {x.date}: {x.closed ? 'closed' : (x.windows ?? []).map((w) => windowText(w)).join(', ')}
                  </li>
                ))}
              </ul>
            )}
          </div>
        ) : (
          <p key={grant.id}>Any time, every day.</p>
        ),
      )}
    </div>
  );
}

function PasswordForm(p: { onDone: () => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [err, setErr] = useState<ApiError | null>(null);
  const [done, setDone] = useState(false);
  const fieldErr = (f: string) => (err && err.field === f ? err.message : null);
  return (
    <form
      class="panel"
      aria-labelledby="pw-title"
      onSubmit={async (e) => {
        e.preventDefault();
        setErr(null);
        if (next !== again) {
          setErr(new ApiError(0, 'mismatch', 'the two new passwords differ', 'again'));
          return;
        }
        try {
          await app.changePassword(current, next);
          setDone(true);
        } catch (x) {
          setErr(x instanceof ApiError ? x : new ApiError(0, 'error', errorText(x)));
        }
      }}
    >
      <h2 id="pw-title">Change my password</h2>
      {done && (
        <p class="notice" role="status">
          Password changed. Your other devices were signed out.
        </p>
      )}
      {err && !err.field && (
        <p class="error" role="alert">
          {err.message}
        </p>
      )}
      <Field label="Current password" error={fieldErr('current_password')}>
        {(id, d, inv) => (
          <input id={id} type="password" autocomplete="current-password" aria-describedby={d} aria-invalid={inv || undefined} value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
        )}
      </Field>
      <Field label="New password" error={fieldErr('new_password')} hint="At least 8 characters">
        {(id, d, inv) => (
          <input id={id} type="password" autocomplete="new-password" aria-describedby={d} aria-invalid={inv || undefined} value={next} onInput={(e) => setNext(e.currentTarget.value)} />
        )}
      </Field>
      <Field label="New password again" error={fieldErr('again')}>
        {(id, d, inv) => (
          <input id={id} type="password" autocomplete="new-password" aria-describedby={d} aria-invalid={inv || undefined} value={again} onInput={(e) => setAgain(e.currentTarget.value)} />
        )}
      </Field>
      <div class="row">
        <button type="submit" class="primary">
          Change password
        </button>
        <button type="button" onClick={p.onDone}>
          Close
        </button>
      </div>
    </form>
  );
}

const CODE_TEXT: Record<string, string> = {
  code_used: 'This sign-in link was already used: each link signs in once. Ask whoever sent it for a new one.',
  code_expired: 'This sign-in link has expired, or the invitation it came with has ended. Ask whoever sent it for a new one.',
  code_invalid: 'This sign-in link is not valid: it may be mistyped or cut short. Ask whoever sent it for a new one.',
  user_disabled: 'This account is disabled. Ask whoever sent the link.',
  rate_limited: 'Too many attempts; wait a few minutes and open the link again.',
};

// A sign-in link (/app/#code=…): the code is in the fragment, so it never reaches a server
// log or a Referer; it is taken off the address at once. Read before the first render, so
// the page says "signing you in" rather than showing the password form for a moment.
const linkCode = (() => {
  const m = /(?:^#|&)code=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, '', location.pathname + location.search);
  try {
    return decodeURIComponent(m[1] as string);
  } catch {
    return m[1] as string;
  }
})();
if (linkCode) app.linkPending = true;

function useSignInLink(a: ReturnType<typeof useApp>) {
  useEffect(() => {
    if (!linkCode) return;
    const signedIn = !!a.session;
    a.signInWithCode(linkCode)
      .catch((e) => {
        const text =
          e instanceof ApiError
            ? e.code === 'invitation_ended'
              ? INVITATION_ENDED.text
              : (CODE_TEXT[e.code] ?? e.message)
            : "The server cannot be reached; open the link again when you're online.";
        // Already signed in on this phone: she keeps her doors, and is told about the link.
        if (signedIn && a.session) a.notice = text;
        else
          a.linkProblem =
            e instanceof ApiError && e.code === 'invitation_ended' ? INVITATION_ENDED : { title: "This link can't sign you in", text };
      })
      .finally(() => {
        a.linkPending = false;
        a.changed();
      });
  }, []);
}

// When a guest's access ends, in words: the latest end of her grants, in her doors' site time
// (as the rest of the app), naming the zone when the phone's differs. Null if one never ends.
function accessEnd(doors: DoorView[]): string | null {
  let end = 0;
  for (const d of doors)
    for (const { grant } of d.grants) {
      if (!grant.valid_until) return null;
      end = Math.max(end, Date.parse(grant.valid_until));
    }
  if (!end) return null;
  const tz = doors[0]?.site?.timezone ?? 'UTC';
  const iso = new Date(end).toISOString();
  return zoneDiffers(tz, new Date(end)) ? `${dateTime(iso, tz)} (${tz})` : dateTime(iso, tz);
}

export function App() {
  const a = useApp();
  const [settings, setSettings] = useState(false);
  useSignInLink(a);
  useEffect(() => {
    if (a.session && !a.push) void a.start();
    const nudge = () => a.push?.nudge();
    addEventListener('online', nudge);
    document.addEventListener('visibilitychange', nudge);
    return () => {
      removeEventListener('online', nudge);
      document.removeEventListener('visibilitychange', nudge);
    };
  }, []);
  const doors = a.doors();
  const hasData = !!a.push?.hasData();
  useEffect(() => {
    if (hasData && a.firstDataMs === null) {
      a.firstDataMs = Math.round(performance.now());
      document.documentElement.dataset.firstDataMs = String(a.firstDataMs);
    }
  }, [hasData]);
  if (a.linkPending && !a.session)
    return (
      <main class="signin" id="main">
        <p class="panel" role="status">
          Signing you in…
        </p>
      </main>
    );
  if (!a.session) return a.linkProblem ? <LinkProblemPage problem={a.linkProblem} /> : <SignIn />;
  const stale = a.status?.state !== 'live';
  const guestUntil = a.session.guest ? accessEnd(doors) : null;
  return (
    <div class="app">
      <header class="bar">
        <h1 class="brand">
          <span class="logo" aria-hidden="true" /> My doors
        </h1>
        <button type="button" class="link" onClick={() => setSettings(!settings)} aria-expanded={settings}>
          {a.session.name}
        </button>
      </header>
      <Indicator />
      {a.session.guest && (
        <p class="guest-note" data-guest>
          Guest access{guestUntil ? ` until ${guestUntil}` : ''}
        </p>
      )}
      <main id="main">
        {a.notice && (
          <p class="notice" role="status">
            {a.notice}{' '}
            <button
              type="button"
              class="link"
              onClick={() => {
                a.notice = null;
                a.changed();
              }}
            >
              OK
            </button>
          </p>
        )}
        {settings && (
          <section class="settings">
            {!a.session.guest && <PasswordForm onDone={() => setSettings(false)} />}
            <button type="button" class="big" onClick={() => a.signOut(null)}>
              Sign out
            </button>
          </section>
        )}
        {!hasData ? (
          <p class="muted">Loading your doors…</p>
        ) : doors.length === 0 ? (
          <p class="empty">You have no doors yet. When an admin gives you access, your doors appear here.</p>
        ) : (
          <ul class={`doors${stale ? ' stale' : ''}`}>
            {doors.map((v) => (
              <DoorCard key={v.door.id} v={v} stale={stale} />
            ))}
          </ul>
        )}
      </main>
    </div>
  );
}
