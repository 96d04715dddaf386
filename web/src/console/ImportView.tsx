// Import people from a CSV file through the server's batch import (POST /v1/import, all or
// nothing). The CSV is turned into import lines here: groups it names that do not exist yet
// first, then one user per row. The server's per-line errors are shown against the CSV's rows.
import { useState } from 'preact/hooks';
import { ApiError, type ImportRowError } from '../lib/api';
import { CopyButton, errorText, toast } from '../ui/ui';
import { parseCsv } from './csv';
import { state, useConsole } from './state';

const COLUMNS = ['name', 'email', 'role', 'groups', 'password'] as const;
const PREVIEW = 20; // rows shown before importing (every row with an error is shown after)

// The CSV column an import error is about ("group_ids" and "groups" are the groups column).
function columnOf(field: string): string {
  if (field === 'group_ids' || field.startsWith('group_ids[') || field === 'groups') return 'groups';
  return field || '—';
}
const EXAMPLE = 'name,email,role,groups,password\nLee Park,lee@example.com,member,Night staff;Cleaners,\nAna Ruiz,ana@example.com,admin,,a long secret\n';

// One person of the CSV: its row number (the header is row 1), its cells, its import line.
export interface PersonRow {
  row: number;
  line: number;
  name: string;
  email: string;
  role: string;
  groups: string[];
  password: boolean;
}

interface Plan {
  lines: Record<string, unknown>[];
  // For each import line (1-based), where it came from in the CSV.
  origin: string[];
  problems: string[];
  people: number;
  newGroups: string[];
  rows: PersonRow[];
}

export function planImport(text: string, existingGroups: string[], signIn: boolean): Plan {
  const rows = parseCsv(text);
  const plan: Plan = { lines: [], origin: [], problems: [], people: 0, newGroups: [], rows: [] };
  if (rows.length === 0) {
    plan.problems.push('The file is empty.');
    return plan;
  }
  const header = (rows[0] ?? []).map((h) => h.trim().toLowerCase());
  const col = (name: string) => header.indexOf(name);
  for (const need of ['name', 'email'])
    if (col(need) < 0) plan.problems.push(`The first row must name the columns; "${need}" is missing (columns: ${COLUMNS.join(', ')}).`);
  for (const h of header) if (h && !(COLUMNS as readonly string[]).includes(h)) plan.problems.push(`Unknown column "${h}" (columns: ${COLUMNS.join(', ')}).`);
  if (plan.problems.length) return plan;
  const known = new Set(existingGroups.map((g) => g.toLowerCase()));
  const users: { line: Record<string, unknown>; row: number }[] = [];
  rows.slice(1).forEach((r, i) => {
    const get = (c: string) => (col(c) >= 0 ? (r[col(c)] ?? '').trim() : '');
    const line: Record<string, unknown> = { kind: 'user', name: get('name'), email: get('email') };
    // Spreadsheets capitalize: the API's roles are lower case.
    if (get('role')) line.role = get('role').toLowerCase();
    const groups = get('groups')
      .split(';')
      .map((g) => g.trim())
      .filter(Boolean);
    for (const g of groups)
      if (!known.has(g.toLowerCase())) {
        known.add(g.toLowerCase());
        plan.newGroups.push(g);
      }
    if (groups.length) line.groups = groups;
    if (get('password')) line.password = get('password');
    else if (signIn) line.sign_in = true;
    users.push({ line, row: i + 2 });
  });
  for (const g of plan.newGroups) {
    plan.lines.push({ kind: 'group', name: g });
    plan.origin.push(`new group “${g}”`);
  }
  for (const u of users) {
    plan.lines.push(u.line);
    plan.origin.push(`row ${u.row}`);
    plan.rows.push({
      row: u.row,
      line: plan.lines.length,
      name: String(u.line.name),
      email: String(u.line.email),
      role: String(u.line.role ?? 'member'),
      groups: (u.line.groups as string[] | undefined) ?? [],
      password: 'password' in u.line,
    });
  }
  plan.people = users.length;
  return plan;
}

interface Created {
  rows: { line: number; kind: string; id: string; sign_in_code?: string }[];
  created: { groups: number; users: number; grants: number };
}

// The people of the CSV as rows, each with what the server said about it beside it.
function RowsTable(p: { rows: PersonRow[]; total: number; errors: ImportRowError[] }) {
  const failing = p.errors.length > 0;
  return (
    <div class="table-wrap">
      <table class={`list import-rows${failing ? ' rows-errors' : ''}`}>
        <caption class={failing ? '' : 'sr-only'}>
          {failing
            ? `The ${p.rows.length === 1 ? 'row' : 'rows'} to fix (nothing was imported):`
            : `The first ${Math.min(p.total, PREVIEW)} of ${p.total} ${p.total === 1 ? 'row' : 'rows'}`}
        </caption>
        <thead>
          <tr>
            <th scope="col">Row</th>
            <th scope="col">Name</th>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Groups</th>
            <th scope="col">Password</th>
            {failing && <th scope="col">Problem</th>}
          </tr>
        </thead>
        <tbody>
          {p.rows.map((r) => {
            const mine = p.errors.filter((e) => e.line === r.line);
            return (
              <tr key={r.row} data-row={r.row} class={mine.length ? 'invalid' : ''}>
                <td data-label="Row">{r.row}</td>
                <td data-label="Name">{r.name}</td>
                <td data-label="Email">{r.email}</td>
                <td data-label="Role">{r.role}</td>
                <td data-label="Groups">{r.groups.join('; ') || '—'}</td>
                <td data-label="Password">{r.password ? 'set' : '—'}</td>
                {failing && (
                  <td data-label="Problem" class="row-problem">
                    {mine.map((e) => (
                      <span key={e.field + e.code} class="field-error" data-column={columnOf(e.field)}>
                        {columnOf(e.field)}: {e.message}
                      </span>
                    ))}
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
      {!failing && p.total > PREVIEW && <p class="hint">… and {p.total - PREVIEW} more rows.</p>}
    </div>
  );
}

export function ImportView() {
  const s = useConsole();
  const [text, setText] = useState('');
  const [fileName, setFileName] = useState('');
  const [signIn, setSignIn] = useState(true);
  const [errors, setErrors] = useState<ImportRowError[] | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [done, setDone] = useState<{ plan: Plan; res: Created } | null>(null);
  const [busy, setBusy] = useState(false);
  const groups = (s.push?.all('group') ?? []).map((g) => g.name);
  const plan = text ? planImport(text, groups, signIn) : null;
  const run = async () => {
    if (!plan || plan.problems.length) return;
    setBusy(true);
    setErrors(null);
    setMessage(null);
    try {
      const res = (await state.api.importLines(plan.lines)) as Created;
      setDone({ plan, res });
      toast(`Imported ${res.created.users} people and ${res.created.groups} groups`, 'ok');
    } catch (e) {
      if (e instanceof ApiError && e.rows.length) {
        setErrors(e.rows);
        const n = new Set(e.rows.map((r) => r.line)).size;
        setMessage(
          `${n} ${n === 1 ? 'row has an error' : 'rows have errors'}${e.rows.length >= 100 ? ' (the first 100 are shown)' : ''}: nothing was imported. Fix the file and choose it again.`,
        );
      } else setMessage(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const codes = done ? done.res.rows.filter((r) => r.sign_in_code) : [];
  return (
    <section class="view" aria-labelledby="view-title">
      <div class="view-head">
        <h1 id="view-title">Import people</h1>
      </div>
      <p class="hint">
        A CSV file with a header row and the columns <code>{COLUMNS.join(', ')}</code> (name and email required; role member,
        admin or owner; groups separated by “;”, created if new). Everything is imported, or nothing.
      </p>
      <pre class="cmd">
        <code>{EXAMPLE}</code>
      </pre>
      <div class="inline-form">
        <div class="field">
          <label for="csv-file">CSV file</label>
          <input
            id="csv-file"
            type="file"
            accept=".csv,text/csv"
            onChange={async (e) => {
              const f = e.currentTarget.files?.[0];
              setDone(null);
              setErrors(null);
              setMessage(null);
              setFileName(f?.name ?? '');
              setText(f ? await f.text() : '');
            }}
          />
        </div>
        <label class="check">
          <input type="checkbox" checked={signIn} onChange={(e) => setSignIn(e.currentTarget.checked)} />
          Give people without a password a one-time sign-in link
        </label>
      </div>
      {plan && plan.problems.length > 0 && (
        <div class="error" role="alert">
          <ul class="plain">
            {plan.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </div>
      )}
      {plan && plan.problems.length === 0 && !done && (
        <p>
          {fileName}: {plan.people} {plan.people === 1 ? 'person' : 'people'}
          {plan.newGroups.length ? `, and new groups ${plan.newGroups.join(', ')}` : ''}.{' '}
          <button type="button" class="primary" disabled={busy} onClick={run}>
            Import
          </button>
        </p>
      )}
      {message && (
        <p class="error" role="alert">
          {message}
        </p>
      )}
      {errors && plan && errors.some((e) => !plan.rows.some((r) => r.line === e.line)) && (
        <ul class="error plain" role="alert">
          {errors
            .filter((e) => !plan.rows.some((r) => r.line === e.line))
            .map((e) => (
              <li key={`${e.line}-${e.field}`}>
                {plan.origin[e.line - 1] ?? `line ${e.line}`}: {e.message}
              </li>
            ))}
        </ul>
      )}
      {plan && plan.problems.length === 0 && !done && (
        <RowsTable
          rows={errors ? plan.rows.filter((r) => errors.some((e) => e.line === r.line)) : plan.rows.slice(0, PREVIEW)}
          total={plan.rows.length}
          errors={errors ?? []}
        />
      )}
      {done && (
        <div class="verdict ok" role="status">
          Imported {done.res.created.users} people and {done.res.created.groups} new groups.
        </div>
      )}
      {codes.length > 0 && done && (
        <>
          <h2>Sign-in links</h2>
          <p class="hint">Each link signs its person into the app once, without a password. Send them yourself; they are not shown again.</p>
          <div class="table-wrap">
            <table class="list">
              <thead>
                <tr>
                  <th scope="col">Person</th>
                  <th scope="col">Link</th>
                </tr>
              </thead>
              <tbody>
                {codes.map((r) => {
                  const line = done.plan.lines[r.line - 1] as { name?: string; email?: string } | undefined;
                  const link = `${location.origin}/app/#code=${r.sign_in_code}`;
                  return (
                    <tr key={r.id}>
                      <td data-label="Person">
                        {line?.name} ({line?.email})
                      </td>
                      <td data-label="Link">
                        <code class="link-text">{link}</code> <CopyButton text={link} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
