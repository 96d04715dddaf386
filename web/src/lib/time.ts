// Times and schedules for people: instants shown in a site's time zone (and the viewer's,
// where it differs), schedule windows as week-grid blocks and as sentences.
import type { Day, DayWindow, Window } from './types';
import { DAYS } from './types';

export const DAY_LABEL: Record<Day, string> = {
  mon: 'Mon',
  tue: 'Tue',
  wed: 'Wed',
  thu: 'Thu',
  fri: 'Fri',
  sat: 'Sat',
  sun: 'Sun',
};

export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

function fmt(tz: string, opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', ...opts });
}

// "Tue 18:00" (within a week) or "Tue 3 Mar 18:00", in the zone.
export function dayTime(iso: string, tz: string, now: Date = new Date()): string {
  const d = new Date(iso);
  const far = Math.abs(d.getTime() - now.getTime()) > 6 * 86400_000;
  const parts = fmt(tz, {
    weekday: 'short',
    ...(far ? { day: 'numeric', month: 'short' } : {}),
    hour: '2-digit',
    minute: '2-digit',
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const date = far ? ` ${get('day')} ${get('month')}` : '';
  return `${get('weekday')}${date} ${get('hour')}:${get('minute')}`;
}

// "27 Nov 2026, 10:02" in the zone.
export function dateTime(iso: string, tz: string = browserZone()): string {
  return fmt(tz, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

export function timeOnly(iso: string, tz: string = browserZone()): string {
  return fmt(tz, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(iso));
}

// Whether the viewer's clock shows another wall time than the site's at this instant.
export function zoneDiffers(tz: string, at: Date = new Date()): boolean {
  const f = (z: string) => fmt(z, { hour: '2-digit', minute: '2-digit', weekday: 'short' }).format(at);
  return f(tz) !== f(browserZone());
}

// The wall time of an instant in a zone as "YYYY-MM-DDTHH:MM" (for datetime-local inputs).
export function localInput(at: Date, tz: string): string {
  const parts = fmt(tz, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).formatToParts(at);
  const g = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return `${g('year')}-${g('month')}-${g('day')}T${g('hour')}:${g('minute')}`;
}

// The zone's UTC offset at an instant, as "+01:00".
export function offsetAt(at: Date, tz: string): string {
  const p = fmt(tz, { timeZoneName: 'longOffset' }).formatToParts(at);
  const name = p.find((x) => x.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-]\d{2}):?(\d{2})?/.exec(name);
  return m ? `${m[1]}:${m[2] ?? '00'}` : '+00:00';
}

// A wall time in a zone ("2026-11-27T20:00") as RFC 3339 with that zone's offset then.
export function zonedToRfc3339(local: string, tz: string): string {
  const guess = new Date(`${local}:00Z`);
  // The offset at the instant near that wall time (exact except within a DST jump).
  const off = offsetAt(new Date(guess.getTime() - offsetMinutes(offsetAt(guess, tz)) * 60_000), tz);
  return `${local}:00${off}`;
}
function offsetMinutes(off: string): number {
  const m = /([+-])(\d{2}):(\d{2})/.exec(off);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

export function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

export function isOvernight(w: { start: string; end: string }): boolean {
  return minutes(w.end) <= minutes(w.start);
}

// A window as blocks on the week grid: [day index 0–6 (Mon–Sun), from, to] in minutes; an
// overnight window continues on the next day (Sunday's into Monday).
export interface Block {
  day: number;
  from: number;
  to: number;
  label: string;
  continued: boolean; // the part after midnight
  index: number; // the window's index in the schedule
}
export function blocks(windows: Window[]): Block[] {
  const out: Block[] = [];
  windows.forEach((w, index) => {
    const s = minutes(w.start);
    const e = minutes(w.end);
    const label = `${w.start}–${w.end}`;
    for (const day of w.days) {
      const d = DAYS.indexOf(day);
      if (d < 0) continue;
      if (e > s) out.push({ day: d, from: s, to: e, label, continued: false, index });
      else {
        out.push({ day: d, from: s, to: 1440, label, continued: false, index });
        if (e > 0) out.push({ day: (d + 1) % 7, from: 0, to: e, label, continued: true, index });
      }
    }
  });
  return out;
}

// "Mon–Fri", "Sat, Sun", "every day".
export function daysText(days: Day[]): string {
  const idx = [...new Set(days.map((d) => DAYS.indexOf(d)))].filter((i) => i >= 0).sort((a, b) => a - b);
  if (idx.length === 7) return 'every day';
  const runs: string[] = [];
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1] === (idx[j] as number) + 1) j++;
    const a = DAY_LABEL[DAYS[idx[i] as number] as Day];
    const b = DAY_LABEL[DAYS[idx[j] as number] as Day];
    runs.push(j - i >= 2 ? `${a}–${b}` : j > i ? `${a}, ${b}` : a);
    i = j + 1;
  }
  return runs.join(', ');
}

// "Mon–Fri 18:00–23:00", "Fri 22:00–06:00 (overnight)".
export function windowText(w: Window | DayWindow, days?: Day[]): string {
  const d = days ?? ('days' in w ? w.days : []);
  const prefix = d.length ? daysText(d) + ' ' : '';
  return `${prefix}${w.start}–${w.end}${isOvernight(w) ? ' (overnight)' : ''}`;
}
