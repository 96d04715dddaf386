// The week grid: Monday to Sunday, midnight to midnight, in the site's local time; each
// schedule window a block (an overnight window continues into the next day's column). Used
// read-only by the app and, with onAdd/onPick, as the console's schedule editor.
import type { Window } from '../lib/types';
import { DAYS } from '../lib/types';
import { DAY_LABEL, blocks } from '../lib/time';

export interface WeekGridProps {
  windows: Window[];
  timezone?: string | undefined; // shown under the grid
  onAdd?: (dayIndex: number, hour: number) => void; // a click on an empty hour
  onPick?: (windowIndex: number) => void; // a click on a block
  selected?: number | null | undefined;
  label: string;
}

const HOURS = [0, 3, 6, 9, 12, 15, 18, 21];

export function WeekGrid(p: WeekGridProps) {
  const bs = blocks(p.windows);
  return (
    <figure class="weekgrid" aria-label={p.label}>
      <div class="wg-head" aria-hidden="true">
        <span />
        {DAYS.map((d) => (
          <span key={d}>{DAY_LABEL[d]}</span>
        ))}
      </div>
      <div class="wg-body">
        <div class="wg-hours" aria-hidden="true">
          {HOURS.map((h) => (
            <span key={h} style={{ top: `${(h / 24) * 100}%` }}>
              {String(h).padStart(2, '0')}:00
            </span>
          ))}
        </div>
        {DAYS.map((d, di) => (
          <div class="wg-day" key={d}>
            {p.onAdd &&
              Array.from({ length: 24 }, (_, h) => (
                <button
                  type="button"
                  key={h}
                  class="wg-slot"
                  style={{ top: `${(h / 24) * 100}%` }}
                  aria-label={`add a window ${DAY_LABEL[d]} ${String(h).padStart(2, '0')}:00`}
                  tabIndex={-1}
                  onClick={() => p.onAdd?.(di, h)}
                />
              ))}
            {bs
              .filter((b) => b.day === di)
              .map((b, i) => {
                const style = { top: `${(b.from / 1440) * 100}%`, height: `${((b.to - b.from) / 1440) * 100}%` };
                const cls = `wg-block${b.continued ? ' cont' : ''}${p.selected === b.index ? ' sel' : ''}`;
                const text = b.continued ? `…${b.label}` : b.label;
                return p.onPick ? (
                  <button
                    type="button"
                    key={i}
                    class={cls}
                    style={style}
                    title={text}
                    aria-label={`edit window ${DAY_LABEL[d]} ${b.label}`}
                    onClick={() => p.onPick?.(b.index)}
                  >
                    <span>{text}</span>
                  </button>
                ) : (
                  <div key={i} class={cls} style={style} title={text}>
                    <span>{text}</span>
                  </div>
                );
              })}
          </div>
        ))}
      </div>
      {p.timezone && <figcaption>Times in {p.timezone} (the site's time zone)</figcaption>}
    </figure>
  );
}
