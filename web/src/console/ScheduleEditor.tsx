// The schedule editor: weekly windows on a week grid (click an empty hour to add one, a block
// to edit it), overnight windows (an end at or before the start runs into the next day), and
// exceptions (holidays closed, or special hours on a date). Times are the site's local time;
// the zones of the sites using the schedule are shown.
import { useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import type { Day, DayWindow, Schedule, ScheduleException, Window } from '../lib/types';
import { DAYS } from '../lib/types';
import { DAY_LABEL, isOvernight, windowText } from '../lib/time';
import { WeekGrid } from '../ui/WeekGrid';
import { Dialog, Field, errorFor, errorText, toast } from '../ui/ui';
import { state } from './state';

function zonesUsing(id: string | undefined): string[] {
  const push = state.push;
  if (!push || !id) return [];
  const zones = new Set<string>();
  for (const g of push.all('grant')) {
    if (g.schedule_id !== id) continue;
    const siteId = g.site_id ?? push.get('door', g.door_id)?.site_id;
    const site = push.get('site', siteId);
    if (site) zones.add(`${site.name} (${site.timezone})`);
  }
  return [...zones];
}

const pad = (n: number) => String(n).padStart(2, '0');

export function ScheduleEditor(p: { record: Schedule | null; onClose: () => void }) {
  const [name, setName] = useState(p.record?.name ?? '');
  const [windows, setWindows] = useState<Window[]>(() => structuredClone(p.record?.windows ?? []));
  const [exceptions, setExceptions] = useState<ScheduleException[]>(() => structuredClone(p.record?.exceptions ?? []));
  const [sel, setSel] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const zones = zonesUsing(p.record?.id);
  const sites = state.push?.all('site') ?? [];
  const zoneText = zones.length
    ? `Times are local to each site that uses this schedule: ${zones.join(', ')}.`
    : `Times are local to each door's site${sites.length ? ` (e.g. ${sites[0]?.name}: ${sites[0]?.timezone})` : ''}.`;

  const setWindow = (i: number, w: Partial<Window>) =>
    setWindows((ws) => ws.map((x, j) => (j === i ? { ...x, ...w } : x)));
  const setException = (i: number, e: ScheduleException) =>
    setExceptions((es) => es.map((x, j) => (j === i ? e : x)));

  const save = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { name, windows, exceptions };
      if (p.record) await state.api.update('schedule', p.record.id, body);
      else await state.api.create('schedule', body);
      toast(`Schedule ${p.record ? 'saved' : 'created'}`, 'ok');
      p.onClose();
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'error', errorText(e)));
      setBusy(false);
    }
  };
  const err = (f: string) => errorFor(error, f);
  const exact = (f: string) => (error && error.field === f ? error.message : null);

  return (
    <Dialog title={p.record ? `Edit schedule “${p.record.name}”` : 'New schedule'} onClose={p.onClose} wide>
      <form onSubmit={save} noValidate>
        <div class="dialog-body schedule-editor">
          {error && (
            <p class="error" role="alert">
              Nothing was saved: {error.message}
            </p>
          )}
          <Field label="Name" error={err('name')}>
            {(id, d, inv) => (
              <input id={id} aria-describedby={d} aria-invalid={inv || undefined} value={name} onInput={(e) => setName(e.currentTarget.value)} />
            )}
          </Field>
          <p class="hint">{zoneText} Click an empty hour to add a window, a window to edit it.</p>
          <WeekGrid
            windows={windows}
            label="weekly windows"
            selected={sel}
            onAdd={(d, h) => {
              const day = DAYS[d] as Day;
              setWindows((ws) => [...ws, { days: [day], start: `${pad(h)}:00`, end: h === 23 ? '24:00' : `${pad(h + 1)}:00` }]);
              setSel(windows.length);
            }}
            onPick={(i) => setSel(i)}
          />
          <h3>Weekly windows</h3>
          {windows.length === 0 && <p class="muted">No windows: the schedule never opens (except on exception dates).</p>}
          <ol class="windows">
            {windows.map((w, i) => (
              <li key={i} class={sel === i ? 'sel' : ''} data-window={i}>
                <fieldset>
                  <legend>
                    Window {i + 1}: {windowText(w)}
                  </legend>
                  <div class="days" role="group" aria-label={`days of window ${i + 1}`}>
                    {DAYS.map((d) => (
                      <label key={d} class="day">
                        <input
                          type="checkbox"
                          checked={w.days.includes(d)}
                          onChange={(e) =>
                            setWindow(i, {
                              days: e.currentTarget.checked ? DAYS.filter((x) => x === d || w.days.includes(x)) : w.days.filter((x) => x !== d),
                            })
                          }
                        />
                        {DAY_LABEL[d]}
                      </label>
                    ))}
                  </div>
                  {exact(`windows[${i}].days`) && <small class="field-error" role="alert">{exact(`windows[${i}].days`)}</small>}
                  <div class="times">
                    <Field label="From" error={exact(`windows[${i}].start`)}>
                      {(id, d, inv) => (
                        <input
                          id={id}
                          class="time"
                          aria-describedby={d}
                          aria-invalid={inv || undefined}
                          value={w.start}
                          placeholder="HH:MM"
                          onInput={(e) => setWindow(i, { start: e.currentTarget.value })}
                        />
                      )}
                    </Field>
                    <Field label="Until" error={exact(`windows[${i}].end`)} hint={isOvernight(w) ? 'the next day (overnight)' : undefined}>
                      {(id, d, inv) => (
                        <input
                          id={id}
                          class="time"
                          aria-describedby={d}
                          aria-invalid={inv || undefined}
                          value={w.end}
                          placeholder="HH:MM"
                          onInput={(e) => setWindow(i, { end: e.currentTarget.value })}
                        />
                      )}
                    </Field>
                    <button
                      type="button"
                      class="danger-text"
                      onClick={() => {
                        setWindows((ws) => ws.filter((_, j) => j !== i));
                        setSel(null);
                      }}
                    >
                      Remove
                    </button>
                  </div>
                  {exact(`windows[${i}]`) && <small class="field-error" role="alert">{exact(`windows[${i}]`)}</small>}
                </fieldset>
              </li>
            ))}
          </ol>
          <button type="button" onClick={() => setWindows((ws) => [...ws, { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' }])}>
            Add a window
          </button>
          {exact('windows') && <small class="field-error" role="alert">{exact('windows')}</small>}

          <h3>Exceptions</h3>
          <p class="hint">A date that is closed (a holiday) or has its own hours; it replaces the windows that start that day.</p>
          <ol class="exceptions">
            {exceptions.map((x, i) => (
              <li key={i}>
                <fieldset>
                  <legend>Exception {i + 1}</legend>
                  <div class="times">
                    <Field label="Date" error={exact(`exceptions[${i}].date`)}>
                      {(id, d, inv) => (
                        <input
                          id={id}
                          type="date"
                          aria-describedby={d}
                          aria-invalid={inv || undefined}
                          value={x.date}
                          onInput={(e) => setException(i, { ...x, date: e.currentTarget.value })}
                        />
                      )}
                    </Field>
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={!!x.closed}
                        onChange={(e) =>
                          setException(
                            i,
                            e.currentTarget.checked ? { date: x.date, closed: true } : { date: x.date, windows: [{ start: '10:00', end: '14:00' }] },
                          )
                        }
                      />
                      Closed all day
                    </label>
                    <button type="button" class="danger-text" onClick={() => setExceptions((es) => es.filter((_, j) => j !== i))}>
                      Remove
                    </button>
                  </div>
                  {!x.closed &&
                    (x.windows ?? []).map((w: DayWindow, k) => (
                      <div class="times" key={k}>
                        <Field label="Open from" error={exact(`exceptions[${i}].windows[${k}].start`)}>
                          {(id) => (
                            <input
                              id={id}
                              class="time"
                              value={w.start}
                              onInput={(e) =>
                                setException(i, { ...x, windows: (x.windows ?? []).map((y, j) => (j === k ? { ...y, start: e.currentTarget.value } : y)) })
                              }
                            />
                          )}
                        </Field>
                        <Field label="Until" error={exact(`exceptions[${i}].windows[${k}].end`)}>
                          {(id) => (
                            <input
                              id={id}
                              class="time"
                              value={w.end}
                              onInput={(e) =>
                                setException(i, { ...x, windows: (x.windows ?? []).map((y, j) => (j === k ? { ...y, end: e.currentTarget.value } : y)) })
                              }
                            />
                          )}
                        </Field>
                      </div>
                    ))}
                  {exact(`exceptions[${i}]`) && <small class="field-error" role="alert">{exact(`exceptions[${i}]`)}</small>}
                </fieldset>
              </li>
            ))}
          </ol>
          <button type="button" onClick={() => setExceptions((es) => [...es, { date: new Date().toISOString().slice(0, 10), closed: true }])}>
            Add an exception
          </button>
        </div>
        <footer>
          <button type="button" onClick={p.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {p.record ? 'Save' : 'Create'}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
