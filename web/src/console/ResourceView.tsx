// One view per resource, from a spec: a paged, searchable list read from the live replica,
// and a create/edit form that sends the change to the API and shows its error beside the
// field at fault. The list changes only when the feed says the server changed.
import type { ComponentChildren } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import type { Kind, KindMap } from '../lib/types';
import { Confirm, Dialog, Field, errorFor, errorText, toast } from '../ui/ui';
import { state, useConsole } from './state';

export type FormValue = string | boolean | string[];
export type FormValues = Record<string, FormValue>;
export interface Option {
  value: string;
  label: string;
}

export interface FieldSpec {
  name: string; // the API's field name (errors are matched on it)
  label: string;
  type: 'text' | 'email' | 'password' | 'number' | 'select' | 'multi' | 'checkbox' | 'datetime' | 'timezone';
  options?: () => Option[];
  hint?: string;
  optional?: boolean; // empty: left out on create, removed (null) on update
  virtual?: boolean; // a choice of the form only (which of two fields), never sent
  show?: (v: FormValues, creating: boolean) => boolean;
  autocomplete?: string;
}

export interface KindSpec<K extends Kind> {
  kind: K;
  title: string;
  singular: string;
  columns: { label: string; render: (r: KindMap[K]) => ComponentChildren }[];
  searchText: (r: KindMap[K]) => string;
  fields: FieldSpec[];
  initial: () => FormValues;
  fromRecord: (r: KindMap[K]) => FormValues;
  actions?: (r: KindMap[K]) => ComponentChildren;
  canCreate?: boolean;
  editor?: (p: { record: KindMap[K] | null; onClose: () => void }) => ComponentChildren;
  intro?: ComponentChildren;
}

const PAGE = 25;

// The API body of a form: a whole record on create, a merge patch on update.
export function toBody(fields: FieldSpec[], v: FormValues, creating: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.virtual) continue;
    if (f.show && !f.show(v, creating)) {
      if (!creating && f.optional) out[f.name] = null; // the other choice: drop this field
      continue;
    }
    const val = v[f.name];
    if (val === undefined) continue;
    const empty = val === '' || (Array.isArray(val) && val.length === 0 && f.optional);
    if (f.type === 'password') {
      if (val !== '') out[f.name] = val;
      else if (creating && !f.optional) out[f.name] = '';
      continue;
    }
    if (empty && f.optional) {
      if (!creating) out[f.name] = null;
      continue;
    }
    switch (f.type) {
      case 'number': {
        const n = Number(val);
        out[f.name] = val === '' || Number.isNaN(n) ? val : n;
        break;
      }
      case 'checkbox':
        out[f.name] = !!val;
        break;
      case 'datetime':
        out[f.name] = val === '' ? '' : new Date(String(val)).toISOString().replace('.000Z', 'Z');
        break;
      default:
        out[f.name] = val;
    }
  }
  return out;
}

export function FormFields(p: {
  fields: FieldSpec[];
  values: FormValues;
  set: (name: string, v: FormValue) => void;
  error: ApiError | null;
  creating: boolean;
}) {
  return (
    <>
      {p.fields
        .filter((f) => !f.show || f.show(p.values, p.creating))
        .map((f) => (
          <Field key={f.name} label={f.label} error={errorFor(p.error, f.name)} hint={f.hint}>
            {(id, described, invalid) => control(f, p.values[f.name], (v) => p.set(f.name, v), id, described, invalid)}
          </Field>
        ))}
    </>
  );
}

let zones: string[] | null = null;
function timeZones(): string[] {
  zones ??= (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  return zones;
}

function control(
  f: FieldSpec,
  value: FormValue | undefined,
  set: (v: FormValue) => void,
  id: string,
  described: string | undefined,
  invalid: boolean,
) {
  const common = { id, name: f.name, 'aria-describedby': described, 'aria-invalid': invalid || undefined };
  switch (f.type) {
    case 'select':
      return (
        <select {...common} value={String(value ?? '')} onChange={(e) => set(e.currentTarget.value)}>
          {(f.options?.() ?? []).map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      );
    case 'multi': {
      const sel = new Set(Array.isArray(value) ? value : []);
      return (
        <div class="checks" role="group" {...common}>
          {(f.options?.() ?? []).map((o) => (
            <label key={o.value} class="check">
              <input
                type="checkbox"
                checked={sel.has(o.value)}
                onChange={(e) => {
                  const next = new Set(sel);
                  if (e.currentTarget.checked) next.add(o.value);
                  else next.delete(o.value);
                  set([...next]);
                }}
              />
              {o.label}
            </label>
          ))}
          {(f.options?.() ?? []).length === 0 && <span class="muted">none yet</span>}
        </div>
      );
    }
    case 'checkbox':
      return <input {...common} type="checkbox" checked={!!value} onChange={(e) => set(e.currentTarget.checked)} />;
    case 'timezone':
      return (
        <>
          <input
            {...common}
            type="text"
            list={`${id}-zones`}
            value={String(value ?? '')}
            onInput={(e) => set(e.currentTarget.value)}
            placeholder="Europe/Madrid"
          />
          <datalist id={`${id}-zones`}>
            {timeZones().map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
        </>
      );
    case 'password':
      return (
        <input
          {...common}
          type="password"
          autocomplete={f.autocomplete ?? 'new-password'}
          value={String(value ?? '')}
          onInput={(e) => set(e.currentTarget.value)}
        />
      );
    default:
      return (
        <input
          {...common}
          type={(f.type === 'datetime' ? 'datetime-local' : f.type === 'number' ? 'text' : f.type) as 'text'}
          inputMode={f.type === 'number' ? 'numeric' : undefined}
          autocomplete={f.autocomplete ?? 'off'}
          value={String(value ?? '')}
          onInput={(e) => set(e.currentTarget.value)}
        />
      );
  }
}

export function RecordForm<K extends Kind>(p: {
  spec: KindSpec<K>;
  record: KindMap[K] | null;
  onClose: () => void;
}) {
  const creating = !p.record;
  const [values, setValues] = useState<FormValues>(() => (p.record ? p.spec.fromRecord(p.record) : p.spec.initial()));
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = toBody(p.spec.fields, values, creating);
      if (p.record) await state.api.update(p.spec.kind, p.record.id, body as never);
      else await state.api.create(p.spec.kind, body as never);
      toast(`${p.spec.singular} ${creating ? 'created' : 'saved'}`, 'ok');
      p.onClose();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'error', errorText(err)));
      setBusy(false);
    }
  };
  const unmatched = error && !p.spec.fields.some((f) => errorFor(error, f.name));
  return (
    <Dialog title={creating ? `New ${p.spec.singular.toLowerCase()}` : `Edit ${p.spec.singular.toLowerCase()}`} onClose={p.onClose}>
      <form onSubmit={submit} noValidate>
        <div class="dialog-body">
          {error && (
            <p class="error" role="alert">
              {unmatched ? error.message : 'Nothing was saved: fix the field marked below.'}
            </p>
          )}
          <FormFields
            fields={p.spec.fields}
            values={values}
            set={(n, v) => setValues((old) => ({ ...old, [n]: v }))}
            error={error}
            creating={creating}
          />
        </div>
        <footer>
          <button type="button" onClick={p.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {creating ? 'Create' : 'Save'}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}

export function ResourceView<K extends Kind>(p: { spec: KindSpec<K> }) {
  const s = useConsole();
  const { spec } = p;
  const [query, setQuery] = useState('');
  const [page, setPage] = useState(0);
  const [editing, setEditing] = useState<KindMap[K] | null | 'new'>(null);
  const [deleting, setDeleting] = useState<KindMap[K] | null>(null);
  const all = s.push ? s.push.all(spec.kind) : [];
  const rows = useMemo(() => {
    const q = query.trim().toLowerCase();
    return all
      .filter((r) => !q || spec.searchText(r).toLowerCase().includes(q))
      .sort((a, b) => spec.searchText(a).localeCompare(spec.searchText(b)));
  }, [s.version, query, spec]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  const cur = Math.min(page, pages - 1);
  const shown = rows.slice(cur * PAGE, cur * PAGE + PAGE);
  const admin = s.me?.user.role !== 'member';
  const Editor = spec.editor;
  return (
    <section class="view" aria-labelledby="view-title">
      <div class="view-head">
        <h1 id="view-title">{spec.title}</h1>
        <input
          type="search"
          class="search"
          placeholder={`Search ${spec.title.toLowerCase()}`}
          aria-label={`Search ${spec.title.toLowerCase()} by name`}
          value={query}
          onInput={(e) => {
            setQuery(e.currentTarget.value);
            setPage(0);
          }}
        />
        {admin && spec.canCreate !== false && (
          <button type="button" class="primary" onClick={() => setEditing('new')}>
            New {spec.singular.toLowerCase()}
          </button>
        )}
      </div>
      {spec.intro}
      {!s.push?.hasData() ? (
        <p class="muted">Loading…</p>
      ) : rows.length === 0 ? (
        <p class="empty">{query ? 'Nothing matches.' : `No ${spec.title.toLowerCase()} yet.`}</p>
      ) : (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                {spec.columns.map((c) => (
                  <th key={c.label} scope="col">
                    {c.label}
                  </th>
                ))}
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr key={r.id} data-id={r.id}>
                  {spec.columns.map((c) => (
                    <td key={c.label} data-label={c.label}>
                      {c.render(r)}
                    </td>
                  ))}
                  <td class="actions">
                    {spec.actions?.(r)}
                    {admin && (
                      <>
                        <button type="button" onClick={() => setEditing(r)}>
                          Edit
                        </button>
                        <button type="button" class="danger-text" onClick={() => setDeleting(r)}>
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pages > 1 && (
        <nav class="pager" aria-label="pages">
          <button type="button" disabled={cur === 0} onClick={() => setPage(cur - 1)}>
            Previous
          </button>
          <span>
            Page {cur + 1} of {pages} ({rows.length})
          </span>
          <button type="button" disabled={cur >= pages - 1} onClick={() => setPage(cur + 1)}>
            Next
          </button>
        </nav>
      )}
      {editing &&
        (Editor ? (
          Editor({ record: editing === 'new' ? null : editing, onClose: () => setEditing(null) })
        ) : (
          <RecordForm spec={spec} record={editing === 'new' ? null : editing} onClose={() => setEditing(null)} />
        ))}
      {deleting && (
        <Confirm
          title={`Delete ${spec.singular.toLowerCase()}`}
          message={`Delete “${spec.searchText(deleting)}”? This cannot be undone.`}
          confirm="Delete"
          danger
          onConfirm={async () => {
            await state.api.remove(spec.kind, deleting.id);
            toast(`${spec.singular} deleted`, 'ok');
          }}
          onClose={() => setDeleting(null)}
        />
      )}
    </section>
  );
}
