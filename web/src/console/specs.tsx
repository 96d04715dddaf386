// The resources the console manages, each as a spec for ResourceView.
import type { Door, Grant, Group, Schedule, Site, Unit, User } from '../lib/types';
import { dateTime, windowText } from '../lib/time';
import type { FormValues, KindSpec, Option } from './ResourceView';
import { grantText, nameOf } from './names';
import { state } from './state';
import { SyncBadge, devicesOf } from './sync';

const opts = <T extends { id: string; name: string }>(list: T[], empty?: string): Option[] => [
  ...(empty !== undefined ? [{ value: '', label: empty }] : []),
  ...list.sort((a, b) => a.name.localeCompare(b.name)).map((r) => ({ value: r.id, label: r.name })),
];
const all = <K extends Parameters<NonNullable<typeof state.push>['all']>[0]>(k: K) => state.push?.all(k) ?? [];
const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));
// An RFC 3339 instant as a datetime-local value in the viewer's zone.
function localValue(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export const siteSpec: KindSpec<'site'> = {
  kind: 'site',
  title: 'Sites',
  singular: 'Site',
  columns: [
    { label: 'Name', render: (r: Site) => r.name },
    { label: 'Time zone', render: (r: Site) => r.timezone },
    {
      label: 'Doors',
      render: (r: Site) => all('door').filter((d) => d.site_id === r.id).length,
    },
    {
      label: 'State',
      render: (r: Site) =>
        r.lockdown ? <span class="badge danger">locked down</span> : <span class="badge ok">normal</span>,
    },
  ],
  searchText: (r) => r.name,
  fields: [
    { name: 'name', label: 'Name', type: 'text' },
    { name: 'timezone', label: 'Time zone', type: 'timezone', hint: 'An IANA name: schedules run in this zone' },
  ],
  initial: () => ({ name: '', timezone: Intl.DateTimeFormat().resolvedOptions().timeZone }),
  fromRecord: (r) => ({ name: r.name, timezone: r.timezone }),
};

export const doorSpec: KindSpec<'door'> = {
  kind: 'door',
  title: 'Doors',
  singular: 'Door',
  columns: [
    { label: 'Name', render: (r: Door) => r.name },
    { label: 'Site', render: (r: Door) => nameOf(state.push, 'site', r.site_id) },
    { label: 'Kind', render: (r: Door) => r.kind },
    {
      label: 'Unit',
      render: (r: Door) => {
        const u = all('unit').find((x) => x.door_ids.includes(r.id));
        return u ? <UnitPresence unit={u} /> : <span class="muted">no unit</span>;
      },
    },
  ],
  searchText: (r) => r.name,
  fields: [
    { name: 'name', label: 'Name', type: 'text' },
    { name: 'site_id', label: 'Site', type: 'select', options: () => opts(all('site'), 'Choose a site') },
    {
      name: 'kind',
      label: 'Kind',
      type: 'select',
      options: () => ['door', 'gate', 'garage', 'turnstile'].map((k) => ({ value: k, label: k })),
    },
    { name: 'pulse_ms', label: 'Relay pulse (ms)', type: 'number', hint: '100 to 60000; how long the lock is released' },
  ],
  initial: () => ({ name: '', site_id: all('site')[0]?.id ?? '', kind: 'door', pulse_ms: '1000' }),
  fromRecord: (r) => ({ name: r.name, site_id: r.site_id, kind: r.kind, pulse_ms: String(r.pulse_ms) }),
};

export function UnitPresence(p: { unit: Unit }) {
  const ds = devicesOf(state.devices, (d) => d.unit_id === p.unit.id);
  const on = ds.some((d) => d.connected);
  const last = ds[0];
  return (
    <span class={`badge ${on ? 'ok' : 'off'}`} data-presence={on ? 'online' : 'offline'}>
      {p.unit.name}: {on ? 'online' : last ? `offline since ${dateTime(last.last_seen)}` : 'offline'}
    </span>
  );
}

export const unitColumns: KindSpec<'unit'>['columns'] = [
  { label: 'Name', render: (r: Unit) => r.name },
  { label: 'Doors', render: (r: Unit) => r.door_ids.map((d) => nameOf(state.push, 'door', d)).join(', ') || '—' },
  {
    label: 'Status',
    render: (r: Unit) => {
      const ds = devicesOf(state.devices, (d) => d.unit_id === r.id);
      if (!ds.length) return <span class="badge off" data-presence="offline">offline (never seen since the server started)</span>;
      return ds.map((d) => <SyncBadge key={d.id} device={d} />);
    },
  },
];

const roleOptions = (): Option[] =>
  (state.me?.user.role === 'owner' ? ['member', 'admin', 'owner'] : ['member', 'admin']).map((r) => ({
    value: r,
    label: r,
  }));

export const userSpec: KindSpec<'user'> = {
  kind: 'user',
  title: 'Users',
  singular: 'User',
  columns: [
    {
      label: 'Name',
      render: (r: User) => (
        <>
          <span class="user-name">{r.name}</span>
          {r.guest && <span class="badge warn">guest</span>}
          {r.disabled && <span class="badge off">disabled</span>}
        </>
      ),
    },
    // A guest invited by phone alone has a placeholder address that reaches no one.
    { label: 'Email', render: (r: User) => (r.email.endsWith('@guest.invalid') ? (r.phone ?? '—') : r.email) },
    {
      label: 'Role',
      render: (r: User) =>
        r.role + (r.site_ids && r.site_ids.length ? ` (${r.site_ids.map((s) => nameOf(state.push, 'site', s)).join(', ')})` : ''),
    },
    {
      label: 'Devices',
      render: (r: User) => {
        const ds = devicesOf(state.devices, (d) => d.user_id === r.id && d.kind === 'app');
        return ds.length ? ds.map((d) => <SyncBadge key={d.id} device={d} />) : <span class="muted">none seen</span>;
      },
    },
  ],
  searchText: (r) => `${r.name} ${r.email}`,
  fields: [
    { name: 'name', label: 'Name', type: 'text', autocomplete: 'off' },
    { name: 'email', label: 'Email', type: 'email' },
    { name: 'role', label: 'Role', type: 'select', options: roleOptions },
    {
      name: 'site_ids',
      label: 'Sites this admin manages (none: the whole organization)',
      type: 'multi',
      options: () => opts(all('site')),
      show: (v) => v.role === 'admin',
      optional: true,
    },
    {
      name: 'group_ids',
      label: 'Groups',
      type: 'multi',
      options: () => opts(all('group')),
      show: () => state.features.groups,
    },
    { name: 'disabled', label: 'Disabled (cannot sign in or open doors)', type: 'checkbox', show: (_v, c) => !c },
    {
      name: 'password',
      label: 'Password',
      type: 'password',
      hint: 'At least 8 characters. Leave empty to keep the current one.',
    },
  ],
  initial: () => ({ name: '', email: '', role: 'member', site_ids: [], group_ids: [], password: '' }),
  fromRecord: (r) => ({
    name: r.name,
    email: r.email,
    role: r.role,
    site_ids: r.site_ids ?? [],
    group_ids: r.group_ids ?? [],
    disabled: !!r.disabled,
    password: '',
  }),
};

export const groupSpec: KindSpec<'group'> = {
  kind: 'group',
  title: 'Groups',
  singular: 'Group',
  columns: [
    { label: 'Name', render: (r: Group) => r.name },
    { label: 'Description', render: (r: Group) => r.description ?? '' },
    {
      label: 'Members',
      render: (r: Group) => {
        const m = all('user').filter((u) => u.group_ids?.includes(r.id));
        return m.length > 4 ? `${m.slice(0, 4).map((u) => u.name).join(', ')} and ${m.length - 4} more` : m.map((u) => u.name).join(', ') || '—';
      },
    },
    { label: 'Grants', render: (r: Group) => all('grant').filter((g) => g.group_id === r.id).length },
  ],
  searchText: (r) => r.name,
  fields: [
    { name: 'name', label: 'Name', type: 'text' },
    { name: 'description', label: 'Description', type: 'text', optional: true },
  ],
  initial: () => ({ name: '', description: '' }),
  fromRecord: (r) => ({ name: r.name, description: r.description ?? '' }),
};

export const scheduleColumns: KindSpec<'schedule'>['columns'] = [
  { label: 'Name', render: (r: Schedule) => r.name },
  {
    label: 'Windows',
    render: (r: Schedule) => (
      <ul class="plain">
        {r.windows.map((w, i) => (
          <li key={i}>{windowText(w)}</li>
        ))}
      </ul>
    ),
  },
  { label: 'Exceptions', render: (r: Schedule) => (r.exceptions ?? []).length || '—' },
  { label: 'Grants', render: (r: Schedule) => all('grant').filter((g) => g.schedule_id === r.id).length },
];

export const grantSpec: KindSpec<'grant'> = {
  kind: 'grant',
  title: 'Grants',
  singular: 'Grant',
  columns: [
    {
      label: 'Who',
      render: (r: Grant) => (r.user_id ? nameOf(state.push, 'user', r.user_id) : `group ${nameOf(state.push, 'group', r.group_id)}`),
    },
    {
      label: 'Doors',
      render: (r: Grant) => (r.door_id ? nameOf(state.push, 'door', r.door_id) : `all of ${nameOf(state.push, 'site', r.site_id)}`),
    },
    { label: 'When', render: (r: Grant) => (r.schedule_id ? nameOf(state.push, 'schedule', r.schedule_id) : 'any time') },
    {
      label: 'Valid',
      render: (r: Grant) =>
        r.valid_from || r.valid_until
          ? `${r.valid_from ? dateTime(r.valid_from) : '…'} – ${r.valid_until ? dateTime(r.valid_until) : '…'}`
          : 'always',
    },
    { label: 'Uses', render: (r: Grant) => (r.max_uses ? `${r.uses ?? 0} of ${r.max_uses}` : `${r.uses ?? 0}`) },
  ],
  searchText: (r) => grantText(state.push, r),
  fields: [
    {
      name: 'who',
      label: 'For',
      type: 'select',
      options: () => [
        { value: 'user', label: 'a person' },
        { value: 'group', label: 'a group' },
      ],
      show: () => state.features.groups,
      virtual: true,
    },
    {
      name: 'user_id',
      label: 'Person',
      type: 'select',
      options: () => opts(all('user'), 'Choose a person'),
      show: (v) => v.who !== 'group',
      optional: true,
    },
    {
      name: 'group_id',
      label: 'Group',
      type: 'select',
      options: () => opts(all('group'), 'Choose a group'),
      show: (v) => v.who === 'group',
      optional: true,
    },
    {
      name: 'target',
      label: 'Opens',
      type: 'select',
      options: () => [
        { value: 'door', label: 'one door' },
        { value: 'site', label: 'every door of a site' },
      ],
      virtual: true,
    },
    {
      name: 'door_id',
      label: 'Door',
      type: 'select',
      options: () =>
        opts(
          all('door').map((d) => ({ ...d, name: `${d.name} (${nameOf(state.push, 'site', d.site_id)})` })),
          'Choose a door',
        ),
      show: (v) => v.target !== 'site',
      optional: true,
    },
    {
      name: 'site_id',
      label: 'Site',
      type: 'select',
      options: () => opts(all('site'), 'Choose a site'),
      show: (v) => v.target === 'site',
      optional: true,
    },
    {
      name: 'schedule_id',
      label: 'Schedule',
      type: 'select',
      options: () => opts(all('schedule'), 'At any time'),
      optional: true,
    },
    { name: 'valid_from', label: 'Valid from (your time)', type: 'datetime', optional: true },
    { name: 'valid_until', label: 'Valid until (your time)', type: 'datetime', optional: true },
    { name: 'max_uses', label: 'Use limit', type: 'number', optional: true, hint: 'Empty: unlimited' },
  ],
  initial: (): FormValues => ({
    who: 'user',
    user_id: '',
    group_id: '',
    target: 'door',
    door_id: '',
    site_id: '',
    schedule_id: '',
    valid_from: '',
    valid_until: '',
    max_uses: '',
  }),
  fromRecord: (r) => ({
    who: r.group_id ? 'group' : 'user',
    user_id: str(r.user_id),
    group_id: str(r.group_id),
    target: r.site_id ? 'site' : 'door',
    door_id: str(r.door_id),
    site_id: str(r.site_id),
    schedule_id: str(r.schedule_id),
    valid_from: localValue(r.valid_from),
    valid_until: localValue(r.valid_until),
    max_uses: str(r.max_uses),
  }),
};
