// The console's shell: sign-in, navigation (a sidebar on a desk, a menu on a phone), the
// live status, and the route to each view.
import { Fragment, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import { dateTime } from '../lib/time';
import { Field, Toasts, errorText } from '../ui/ui';
import { ResourceView } from './ResourceView';
import { groupSpec, grantSpec, userSpec } from './specs';
import { state, useConsole } from './state';
import {
  AccessView,
  AuditView,
  DevicesView,
  DoorsView,
  LiveView,
  SchedulesView,
  SitesView,
  UnitsView,
} from './views';
import { ImportView } from './ImportView';
import { InvitationsView } from './InvitationsView';

interface RouteDef {
  path: string;
  label: string;
  view: () => ComponentChildren;
  show?: () => boolean;
}
const ROUTES: RouteDef[] = [
  { path: '/', label: 'Live', view: () => <LiveView /> },
  { path: '/doors', label: 'Doors', view: () => <DoorsView /> },
  { path: '/sites', label: 'Sites', view: () => <SitesView /> },
  { path: '/units', label: 'Units', view: () => <UnitsView /> },
  { path: '/users', label: 'Users', view: () => <ResourceView spec={userSpec} /> },
  { path: '/groups', label: 'Groups', view: () => <ResourceView spec={groupSpec} />, show: () => state.features.groups },
  { path: '/schedules', label: 'Schedules', view: () => <SchedulesView /> },
  { path: '/grants', label: 'Grants', view: () => <ResourceView spec={grantSpec} /> },
  { path: '/invitations', label: 'Invitations', view: () => <InvitationsView />, show: () => state.features.invitations },
  { path: '/import', label: 'Import', view: () => <ImportView />, show: () => state.features.import },
  { path: '/devices', label: 'Devices', view: () => <DevicesView /> },
  { path: '/access', label: 'Access check', view: () => <AccessView /> },
  { path: '/audit', label: 'Audit log', view: () => <AuditView /> },
];

function usePath(): [string, (p: string) => void] {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    addEventListener('popstate', on);
    return () => removeEventListener('popstate', on);
  }, []);
  const go = (p: string) => {
    if (p !== location.pathname) history.pushState(null, '', p);
    setPath(p);
  };
  return [path, go];
}

function SignIn() {
  const s = useConsole();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin" id="main">
      <form
        class="card"
        aria-labelledby="signin-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setErr(null);
          try {
            await s.login(email, password);
          } catch (x) {
            setErr(x instanceof ApiError ? x : new ApiError(0, 'error', errorText(x)));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="signin-title">
          <span class="logo" aria-hidden="true" /> portier console
        </h1>
        {s.signedOutReason && (
          <p class="notice" role="alert" data-reason>
            {s.signedOutReason}
          </p>
        )}
        {err && (
          <p class="error" role="alert">
            {err.code === 'invalid_credentials' ? 'Wrong email or password.' : err.message}
          </p>
        )}
        <Field label="Email" error={err?.field === 'email' ? err.message : null}>
          {(id) => (
            <input id={id} type="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          )}
        </Field>
        <Field label="Password" error={err?.field === 'password' ? err.message : null}>
          {(id) => (
            <input
              id={id}
              type="password"
              autocomplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          )}
        </Field>
        <button type="submit" class="primary wide" disabled={busy}>
          Sign in
        </button>
        <p class="muted small">
          Members and guests: open the app at <a href="/app/">/app/</a>.
        </p>
      </form>
    </main>
  );
}

function LiveStatus() {
  const s = useConsole();
  const st = s.status;
  if (!st) return null;
  const text =
    st.state === 'live'
      ? 'Live'
      : st.state === 'connecting'
        ? 'Connecting…'
        : `Offline${st.lastLive ? ` since ${dateTime(st.lastLive.toISOString())}` : ''} — reconnecting`;
  return (
    <span class={`live-status ${st.state}`} role="status" data-state={st.state}>
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

export function Console() {
  const s = useConsole();
  const [path, go] = usePath();
  const [menu, setMenu] = useState(false);
  useEffect(() => {
    if (s.signedIn && !s.me) void s.startSession().catch(() => {});
  }, []);
  useEffect(() => {
    document.title = s.signedIn ? `${ROUTES.find((r) => r.path === path)?.label ?? 'portier'} · portier console` : 'Sign in · portier console';
  }, [path, s.signedIn]);
  if (!s.signedIn)
    return (
      <>
        <SignIn />
        <Toasts />
      </>
    );
  const routes = ROUTES.filter((r) => !r.show || r.show());
  const route = routes.find((r) => r.path === path) ?? null;
  return (
    <div class={`shell${menu ? ' menu-open' : ''}`}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <button type="button" class="icon menu-button" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu(!menu)}>
          <span aria-hidden="true">☰</span>
          <span class="sr-only">Menu</span>
        </button>
        <span class="brand">
          <span class="logo" aria-hidden="true" /> {s.me?.org.name ?? 'portier'}
        </span>
        <LiveStatus />
        <span class="who">{s.me?.user.name}</span>
        <button type="button" onClick={() => s.signOut(null)}>
          Sign out
        </button>
      </header>
      <nav id="nav" aria-label="sections">
        <ul>
          {routes.map((r) => (
            <li key={r.path}>
              <a
                href={r.path}
                aria-current={r.path === path ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  setMenu(false);
                  go(r.path);
                }}
              >
                {r.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main">
        {route ? (
          // Keyed by route: a view's search, page and open dialog do not leak into the next.
          <Fragment key={route.path}>{route.view()}</Fragment>
        ) : (
          <section class="view">
            <h1>Not found</h1>
            <p>
              There is no page at {path}. <a href="/">Go to the live view</a>.
            </p>
          </section>
        )}
      </main>
      <Toasts />
    </div>
  );
}
