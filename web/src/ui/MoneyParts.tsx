// Shared by the money views (Revenue, Fans, Chatters) and the chatter filter on Insights:
// loading an answer for the chosen window (again, debounced, when live data changes), the
// chatter picker, the CSV button, and "this server has no such endpoint" notices.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { Api } from '../api/client';
import { fetchChatters, type ChatterRow, type Loaded } from '../api/money';
import type { ResolvedRange } from '../lib/range';
import { chatterName } from '../lib/money';
import { Icon } from './common';

const REFRESH_DEBOUNCE_MS = 800;

export interface RemoteState<T> {
  value: Loaded<T> | null;
  loading: boolean;
  fetchedAt: number | null;
}

/**
 * ``load`` for ``key``: at once when the key changes, debounced when ``liveUpdateAt`` moves
 * (a live frame changed the data). ``load`` is read through a ref; ``key`` says what it asks.
 * The last answer stays on screen while the next one loads ("Updating…"), as on Insights.
 */
export function useRemote<T>(
  key: string,
  load: (signal: AbortSignal) => Promise<Loaded<T>>,
  liveUpdateAt: number | null,
): RemoteState<T> {
  const [state, setState] = useState<RemoteState<T>>({ value: null, loading: false, fetchedAt: null });
  const loadRef = useRef(load);
  loadRef.current = load;
  const lastKey = useRef<string | null>(null);
  const controllerRef = useRef<AbortController | null>(null);
  useEffect(() => {
    const refresh = lastKey.current === key;
    lastKey.current = key;
    const timer = setTimeout(
      () => {
        controllerRef.current?.abort();
        const controller = new AbortController();
        controllerRef.current = controller;
        setState((s) => ({ ...s, loading: true }));
        loadRef
          .current(controller.signal)
          .then((value) => {
            if (controllerRef.current === controller) setState({ value, loading: false, fetchedAt: Date.now() });
          })
          .catch((error: unknown) => {
            if ((error as Error).name === 'AbortError') return;
            setState({ value: { ok: false, missing: false, error: String(error) }, loading: false, fetchedAt: Date.now() });
          });
      },
      refresh ? REFRESH_DEBOUNCE_MS : 0,
    );
    return () => clearTimeout(timer);
  }, [key, liveUpdateAt]);
  useEffect(() => () => controllerRef.current?.abort(), []);
  return state;
}

/** The answer's content, or a skeleton while loading, or why it is missing. */
export function LoadedSlot<T>({
  state,
  what,
  children,
}: {
  state: RemoteState<T>;
  what: string;
  children: (data: T) => ReactNode;
}) {
  const value = state.value;
  if (!value) {
    return (
      <div className="insights-skeleton" aria-busy="true">
        <div className="skeleton-block" />
        <div className="skeleton-block tall" />
      </div>
    );
  }
  if (value.ok) return <>{children(value.data)}</>;
  return (
    <div className={`notice${value.missing ? '' : ' notice-error'}`} role={value.missing ? 'status' : 'alert'} data-testid="money-missing">
      <Icon name="alert" size={16} />{' '}
      {value.missing ? `This server has no ${what} yet (it needs the money API of issue 14).` : `Could not load the ${what}: ${value.error}`}
    </div>
  );
}

export function UpdatedNote({ state }: { state: RemoteState<unknown> }) {
  return (
    <div className="insights-status muted" aria-live="polite">
      {state.loading ? <span className="spinner" aria-hidden="true" /> : null}
      {state.loading ? 'Updating…' : state.fetchedAt ? `Updated ${new Date(state.fetchedAt).toLocaleTimeString()}` : null}
    </div>
  );
}

/** The window's chatters (who sent, replied, offered or was credited a tip), for a picker. */
export function useChatterOptions(
  api: Api,
  token: string,
  accountId: string,
  range: ResolvedRange,
): { chatter: string; label: string }[] | null {
  const key = `${accountId}|${range.start}|${range.end}`;
  const state = useRemote(
    key,
    (signal) => fetchChatters(api, token, { accountId, range }, signal),
    null,
  );
  if (!state.value?.ok) return null;
  return state.value.data.chatters.map((row: ChatterRow) => ({ chatter: row.chatter, label: chatterName(row.chatter, row.name) }));
}

/** A select of the window's chatters; "All chatters" clears the filter. */
export function ChatterFilter({
  options,
  value,
  onChange,
}: {
  options: { chatter: string; label: string }[] | null;
  value: string | null;
  onChange: (chatter: string | null) => void;
}) {
  // The chosen chatter stays selectable even when they did nothing in this window.
  const list = options ?? [];
  const shown = value && !list.some((o) => o.chatter === value) ? [{ chatter: value, label: value }, ...list] : list;
  return (
    <label className="select-field chatter-field">
      <span>Chatter</span>
      <select
        value={value ?? ''}
        disabled={!options && !value}
        title={options ? undefined : 'This server lists no chatters'}
        onChange={(e) => onChange(e.target.value || null)}
      >
        <option value="">All chatters</option>
        {shown.map((option) => (
          <option key={option.chatter} value={option.chatter}>
            {option.label}
          </option>
        ))}
      </select>
    </label>
  );
}

export function CsvButton({ onClick, label = 'CSV', testId }: { onClick: () => void | Promise<void>; label?: string; testId?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <span className="csv-action">
      <button
        type="button"
        className="ghost small"
        data-testid={testId}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            await onClick();
          } catch (err) {
            setError(err instanceof Error ? err.message : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Icon name="download" size={14} /> {busy ? 'Preparing…' : `Download ${label}`}
      </button>
      {error ? (
        <span className="field-error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}
