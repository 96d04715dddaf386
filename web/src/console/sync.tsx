// Delivery receipts in words: "up to date", "3 changes behind", "offline since …".
import type { Device } from '../lib/types';
import { dateTime } from '../lib/time';

export function behind(d: Device): number {
  return d.feeds.reduce((n, f) => n + Math.max(0, f.behind), 0);
}

export function syncText(d: Device): string {
  const n = behind(d);
  if (!d.connected) return `offline since ${dateTime(d.last_seen)}${n ? `, ${n} change${n === 1 ? '' : 's'} behind` : ''}`;
  if (n === 0) return 'up to date';
  return `${n} change${n === 1 ? '' : 's'} behind`;
}

export function SyncBadge(p: { device: Device }) {
  const n = behind(p.device);
  const cls = !p.device.connected ? 'badge off' : n === 0 ? 'badge ok' : 'badge warn';
  return (
    <span class="sync">
      <span class="device-name">{p.device.name || p.device.id}</span>{' '}
      <span class={cls} data-sync={n === 0 && p.device.connected ? 'current' : 'behind'}>
        {syncText(p.device)}
      </span>
    </span>
  );
}

export function devicesOf(all: Map<string, Device>, match: (d: Device) => boolean): Device[] {
  return [...all.values()].filter(match).sort((a, b) => Number(b.connected) - Number(a.connected));
}
