// The dashboard's live connection to /ws/frontend/{account}: reconnects with exponential
// backoff and jitter; each new connection gets a fresh full_sync_response from the server,
// which the store applies as a replacement, so nothing missed while offline is kept stale.
import type { OutgoingWssMessage } from '../generated/wss';
import type { LiveAction } from './store';

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30_000;

/** Delay before reconnect attempt ``attempt`` (1-based), with ±20 % jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  const jitter = 0.8 + random() * 0.4;
  return Math.round(Math.min(BACKOFF_MAX_MS, exponential * jitter));
}

/**
 * Close codes that retrying cannot fix: 1008 is what ofca sends for a missing, invalid,
 * revoked or foreign credential; 4401/4403 are the conventional app-level equivalents.
 */
export function isFatalClose(code: number): boolean {
  return code === 1008 || code === 4401 || code === 4403;
}

/**
 * ``batch=1`` lets the server pack events that queue up for this socket into one
 * event_batch frame (the store applies it as one update); single events still come plain.
 */
export function frontendSocketUrl(wsBase: string, accountId: string, token: string | null): string {
  const base = wsBase.replace(/\/$/, '');
  const query = token ? `?batch=1&token=${encodeURIComponent(token)}` : '?batch=1';
  return `${base}/ws/frontend/${encodeURIComponent(accountId)}${query}`;
}

export interface LiveSocketOptions {
  url: string;
  dispatch: (action: LiveAction) => void;
  /** For tests; defaults to the browser's WebSocket. */
  createSocket?: (url: string) => WebSocket;
  now?: () => number;
}

function closeReason(code: number, reason: string): string {
  if (reason) return reason;
  if (code === 1008) return 'The server refused this login or key for this account.';
  if (code === 1006) return 'The connection dropped.';
  if (code === 1011 || code === 4500) return 'The server hit an internal error.';
  if (code === 1012 || code === 1001) return 'The server is restarting.';
  return '';
}

export class LiveSocket {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private readonly options: LiveSocketOptions;
  private readonly onBrowserOnline = () => this.reconnectNow();

  constructor(options: LiveSocketOptions) {
    this.options = options;
  }

  start(): void {
    this.stopped = false;
    if (typeof window !== 'undefined') window.addEventListener('online', this.onBrowserOnline);
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (typeof window !== 'undefined') window.removeEventListener('online', this.onBrowserOnline);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= 1) socket.close(1000, 'dashboard closed');
  }

  /** Skip the remaining backoff (network came back, or the user clicked "retry"). */
  reconnectNow(): void {
    if (this.stopped || (this.socket && this.socket.readyState <= 1)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.open();
  }

  private open(): void {
    const { dispatch } = this.options;
    const now = this.options.now ?? Date.now;
    dispatch({ kind: 'connecting', attempt: this.attempt });
    const socket = (this.options.createSocket ?? ((url) => new WebSocket(url)))(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket === socket) dispatch({ kind: 'opened' });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket || typeof event.data !== 'string') return;
      let frame: OutgoingWssMessage;
      try {
        frame = JSON.parse(event.data) as OutgoingWssMessage;
      } catch {
        return; // the server only sends JSON; a broken frame is not worth a reconnect
      }
      if (frame.type === 'full_sync_response') this.attempt = 0;
      dispatch({ kind: 'frame', frame, at: now() });
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      const fatal = isFatalClose(event.code);
      this.attempt += 1;
      const delay = fatal ? null : backoffDelay(this.attempt);
      dispatch({
        kind: 'closed',
        code: event.code,
        reason: closeReason(event.code, event.reason),
        retryAt: delay === null ? null : now() + delay,
        fatal,
      });
      if (delay !== null) this.timer = setTimeout(() => this.open(), delay);
    };
  }
}
