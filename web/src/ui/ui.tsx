// Small shared pieces: a modal dialog, form fields that show the API's error beside them,
// a copy button, toasts.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';

export function Dialog(p: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      class={p.wide ? 'wide' : ''}
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        p.onClose();
      }}
    >
      <header>
        <h2 id="dialog-title">{p.title}</h2>
        <button type="button" class="icon" aria-label="close" onClick={p.onClose}>
          ×
        </button>
      </header>
      {p.children}
    </dialog>
  );
}

export function Confirm(p: {
  title: string;
  message: ComponentChildren;
  confirm: string;
  danger?: boolean;
  onConfirm: () => Promise<void> | void;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Dialog title={p.title} onClose={p.onClose}>
      <div class="dialog-body">
        <p>{p.message}</p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
      <footer>
        <button type="button" onClick={p.onClose}>
          Cancel
        </button>
        <button
          type="button"
          class={p.danger ? 'danger' : 'primary'}
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            setError(null);
            try {
              await p.onConfirm();
              p.onClose();
            } catch (e) {
              setError(errorText(e));
              setBusy(false);
            }
          }}
        >
          {p.confirm}
        </button>
      </footer>
    </Dialog>
  );
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

// Whether an API error is about this field ("windows" matches "windows[1].end").
export function errorFor(err: ApiError | null, field: string): string | null {
  if (!err || !err.field) return null;
  const f = err.field;
  if (f === field || f.startsWith(field + '[') || f.startsWith(field + '.')) return err.message;
  return null;
}

let fieldSeq = 0;
export function useId(prefix: string): string {
  const ref = useRef<string | null>(null);
  ref.current ??= `${prefix}-${++fieldSeq}`;
  return ref.current;
}

// A labelled control with its hint and its error (aria-describedby, aria-invalid).
export function Field(p: {
  label: string;
  error?: string | null;
  hint?: ComponentChildren;
  children: (id: string, describedBy: string | undefined, invalid: boolean) => ComponentChildren;
}) {
  const id = useId('f');
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const described = [p.error ? errId : '', p.hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${p.error ? ' invalid' : ''}`}>
      <label for={id}>{p.label}</label>
      {p.children(id, described, !!p.error)}
      {p.hint && (
        <small id={hintId} class="hint">
          {p.hint}
        </small>
      )}
      {p.error && (
        <small id={errId} class="field-error" role="alert">
          {p.error}
        </small>
      )}
    </div>
  );
}

export function CopyButton(p: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="copy"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(p.text);
        } catch {
          // Clipboard refused (no permission, plain HTTP on another host): select by hand.
        }
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? 'Copied' : (p.label ?? 'Copy')}
    </button>
  );
}

export interface Toast {
  id: number;
  text: string;
  kind: 'ok' | 'error' | 'info';
}
let toastSeq = 0;
const toastListeners = new Set<(t: Toast[]) => void>();
let toasts: Toast[] = [];
export function toast(text: string, kind: Toast['kind'] = 'info'): void {
  const t = { id: ++toastSeq, text, kind };
  toasts = [...toasts.slice(-3), t];
  toastListeners.forEach((l) => l(toasts));
  setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== t.id);
    toastListeners.forEach((l) => l(toasts));
  }, 6000);
}
export function Toasts() {
  const [list, setList] = useState<Toast[]>(toasts);
  useEffect(() => {
    toastListeners.add(setList);
    return () => void toastListeners.delete(setList);
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast ${t.kind}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}
