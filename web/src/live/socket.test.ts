import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BACKOFF_MAX_MS, LiveSocket, backoffDelay, frontendSocketUrl, isFatalClose } from './socket';
import type { LiveAction } from './store';

/** Just enough of a browser WebSocket for LiveSocket: the test drives its events. */
class FakeSocket {
  static created: FakeSocket[] = [];
  readyState = 0;
  closedWith: number | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.created.push(this);
  }

  open() {
    this.readyState = 1;
    this.onopen?.();
  }

  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  drop(code: number, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  close(code: number) {
    this.closedWith = code;
    this.readyState = 3;
  }
}

function start() {
  const actions: LiveAction[] = [];
  const socket = new LiveSocket({
    url: 'ws://x/ws/frontend/a?token=t',
    dispatch: (action) => actions.push(action),
    createSocket: (url) => new FakeSocket(url) as unknown as WebSocket,
    now: () => 0,
  });
  socket.start();
  return { socket, actions };
}

const fullSync = { type: 'full_sync_response', payload: { conversations: [], analytics: null } };

describe('backoffDelay', () => {
  it('doubles from 500 ms up to the cap, with bounded jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, mid))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(30, mid)).toBe(BACKOFF_MAX_MS);
    expect(backoffDelay(1, () => 0)).toBe(400);
    expect(backoffDelay(1, () => 1)).toBe(600);
  });
});

describe('LiveSocket', () => {
  beforeEach(() => {
    FakeSocket.created = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it('dispatches frames and reconnects after a drop with growing delays', () => {
    const { socket, actions } = start();
    const first = FakeSocket.created[0]!;
    first.open();
    first.receive(fullSync);
    expect(actions.map((a) => a.kind)).toEqual(['connecting', 'opened', 'frame']);

    first.drop(1006);
    const closed = actions[actions.length - 1];
    expect(closed).toMatchObject({ kind: 'closed', code: 1006, fatal: false });
    expect(FakeSocket.created).toHaveLength(1);
    vi.advanceTimersByTime(700);
    expect(FakeSocket.created).toHaveLength(2);
    expect(actions[actions.length - 1]).toEqual({ kind: 'connecting', attempt: 1 });

    // Failing again waits longer; a full sync resets the backoff.
    FakeSocket.created[1]!.drop(1006);
    vi.advanceTimersByTime(700);
    expect(FakeSocket.created).toHaveLength(2);
    vi.advanceTimersByTime(600);
    expect(FakeSocket.created).toHaveLength(3);
    const third = FakeSocket.created[2]!;
    third.open();
    third.receive(fullSync);
    third.drop(1012);
    vi.advanceTimersByTime(700);
    expect(FakeSocket.created).toHaveLength(4);
    socket.stop();
  });

  it('dispatches an event_batch frame as one action', () => {
    const { socket, actions } = start();
    const first = FakeSocket.created[0]!;
    first.open();
    first.receive(fullSync);
    const status = { type: 'system_status', payload: { status: 'REALTIME' } };
    first.receive({ type: 'event_batch', payload: { events: [status, status, status] } });
    expect(actions.map((a) => a.kind)).toEqual(['connecting', 'opened', 'frame', 'frame']);
    expect(actions[3]).toMatchObject({ frame: { type: 'event_batch' } });
    socket.stop();
  });

  it('does not retry a refused credential (1008)', () => {
    const { actions } = start();
    FakeSocket.created[0]!.open();
    FakeSocket.created[0]!.drop(1008, 'revoked');
    expect(actions[actions.length - 1]).toMatchObject({ kind: 'closed', fatal: true, retryAt: null, reason: 'revoked' });
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.created).toHaveLength(1);
  });

  it('stop() closes the socket and cancels a pending reconnect', () => {
    const { socket } = start();
    FakeSocket.created[0]!.drop(1006);
    socket.stop();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.created).toHaveLength(1);
    const again = start();
    FakeSocket.created[1]!.open();
    again.socket.stop();
    expect(FakeSocket.created[1]!.closedWith).toBe(1000);
  });
});

describe('helpers', () => {
  it('builds the frontend socket URL with an encoded token, opting into event batches', () => {
    expect(frontendSocketUrl('wss://h/', 'acct 1', 'a+b')).toBe('wss://h/ws/frontend/acct%201?batch=1&token=a%2Bb');
    // A login cookie needs no token; the root path ofca is mounted under is kept.
    expect(frontendSocketUrl('ws://h/ofca/', 'a', null)).toBe('ws://h/ofca/ws/frontend/a?batch=1');
  });

  it('treats only auth closes as fatal', () => {
    expect(isFatalClose(1008)).toBe(true);
    expect(isFatalClose(1006)).toBe(false);
    expect(isFatalClose(1013)).toBe(false);
  });
});
