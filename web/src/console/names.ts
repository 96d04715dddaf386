// Names for ids: every view shows names, never raw ids.
import type { PushClient } from '../lib/push';
import type { Grant, Kind } from '../lib/types';

export function nameOf(push: PushClient | null, kind: Kind, id: string | null | undefined): string {
  if (!id) return '—';
  const r = push?.get(kind, id) as { name?: string } | undefined;
  if (r?.name) return r.name;
  return `(deleted ${kind})`;
}

// Any record's name by id alone (the audit log names entities of every kind).
export function anyName(push: PushClient | null, id: string | null | undefined): string {
  if (!id) return '—';
  const prefix = id.split('_')[0];
  const kind: Kind | undefined = (
    {
      site: 'site',
      door: 'door',
      unit: 'unit',
      user: 'user',
      sched: 'schedule',
      grant: 'grant',
      group: 'group',
      grp: 'group',
    } as Record<string, Kind>
  )[prefix ?? ''];
  if (!kind) return id.startsWith('org_') ? 'the organization' : 'someone';
  if (kind === 'grant') {
    const g = push?.get('grant', id);
    return g ? grantText(push, g) : '(a removed grant)';
  }
  return nameOf(push, kind, id);
}

export function grantText(push: PushClient | null, g: Grant): string {
  const who = g.user_id ? nameOf(push, 'user', g.user_id) : nameOf(push, 'group', g.group_id);
  const what = g.door_id ? nameOf(push, 'door', g.door_id) : `all doors of ${nameOf(push, 'site', g.site_id)}`;
  return `${who} → ${what}`;
}

export const REASON_TEXT: Record<string, string> = {
  granted: 'allowed',
  user_disabled: 'the account is disabled',
  no_grant: 'no grant for this door',
  outside_schedule: 'outside the schedule',
  not_yet_valid: 'the grant is not valid yet',
  uses_exhausted: 'no uses left',
  expired: 'the grant has expired',
  lockdown: 'the site is locked down',
};
