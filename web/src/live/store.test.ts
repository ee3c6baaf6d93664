import { describe, expect, it } from 'vitest';
import type {
  AnalyticsSnapshot,
  AppendMessage,
  ConversationNode,
  EventBatch,
  MessageView,
  OutgoingWssMessage,
} from '../generated/wss';
import {
  MAX_ERRORS,
  comparePriority,
  initialLiveState,
  liveReducer,
  visibleConversations,
  type LiveState,
} from './store';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const iso = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

function message(
  id: string,
  chatId: string,
  minutes: number,
  direction: MessageView['direction'],
  extra: Partial<MessageView> = {},
): MessageView {
  return {
    id,
    chat_id: chatId,
    text: `text ${id}`,
    created_at: iso(minutes),
    direction,
    sentiment: null,
    topics: [],
    ...extra,
  };
}

function conversation(
  chatId: string,
  messages: MessageView[],
  extra: Partial<ConversationNode> = {},
): ConversationNode {
  const last = messages[messages.length - 1] ?? null;
  return {
    chat_id: chatId,
    fan: { id: `fan-${chatId}`, name: `Fan ${chatId}` },
    messages,
    message_count: messages.length,
    last_message: last,
    last_activity_at: last?.created_at ?? null,
    unanswered_since: null,
    topics: [],
    ...extra,
  };
}

function analytics(computedAt: string, sessions: number): AnalyticsSnapshot {
  const window = { start: iso(-43200), end: iso(0) };
  const previous_window = { start: iso(-86400), end: iso(-43200) };
  const values = {
    sessions,
    messages: sessions * 2,
    inbound_messages: sessions,
    outbound_messages: sessions,
    active_fans: sessions,
    new_fans: 0,
    average_messages_per_session: 2,
  };
  return {
    computed_at: computedAt,
    topics: { topics: [], window, previous_window },
    sentiment_trend: { trend: [], granularity: 'day', timezone: 'UTC', window },
    response_time: {
      average_handling_time_minutes: null,
      silence_percentage: null,
      turns: null,
      sessions,
      reply_time: {
        count: 0,
        mean_seconds: null,
        median_seconds: null,
        p90_seconds: null,
        max_seconds: null,
        unanswered: 0,
        within_sla_percentage: null,
        sla_seconds: 300,
      },
      unavailable_reasons: {},
      window,
    },
    overview: { current: values, previous: values, window, previous_window },
  };
}

function apply(state: LiveState, ...frames: OutgoingWssMessage[]): LiveState {
  return frames.reduce((s, frame, i) => liveReducer(s, { kind: 'frame', frame, at: T0 + i }), state);
}

/** An append as the server sends it: the node carries only the message(s) this change brought. */
function append(node: ConversationNode, extra: Partial<AppendMessage['payload']> = {}): AppendMessage {
  const last = node.messages[node.messages.length - 1]!;
  return { type: 'append_message', payload: { conversation: node, message: last, ...extra } };
}

function batch(...events: EventBatch['payload']['events']): EventBatch {
  return { type: 'event_batch', payload: { events } };
}

function fullSync(conversations: ConversationNode[], snapshot: AnalyticsSnapshot | null = null) {
  return {
    type: 'full_sync_response',
    payload: { conversations, analytics: snapshot },
  } as const satisfies OutgoingWssMessage;
}

describe('full_sync_response', () => {
  it('replaces every conversation and the analytics, and goes live', () => {
    const first = apply(
      initialLiveState(),
      fullSync(
        [conversation('a', [message('1', 'a', 0, 'inbound')]), conversation('b', [])],
        analytics('t1', 3),
      ),
    );
    expect(first.order).toHaveLength(2);
    const second = apply(
      first,
      fullSync([conversation('c', [message('9', 'c', 5, 'outbound')])], analytics('t2', 7)),
    );
    expect(Object.keys(second.conversations)).toEqual(['c']);
    expect(second.order).toEqual(['c']);
    expect(second.analytics?.computed_at).toBe('t2');
    expect(second.analytics?.overview.current.sessions).toBe(7);
    expect(second.connection.phase).toBe('live');
    expect(second.syncCount).toBe(2);
  });

  it('sorts waiting fans first (longest wait first), then by last activity', () => {
    const state = apply(
      initialLiveState(),
      fullSync([
        conversation('recent', [message('r', 'recent', 50, 'outbound')]),
        conversation('old', [message('o', 'old', 10, 'outbound')]),
        conversation('waiting-short', [message('w1', 'waiting-short', 40, 'inbound')], {
          unanswered_since: iso(40),
        }),
        conversation('waiting-long', [message('w2', 'waiting-long', 20, 'inbound')], {
          unanswered_since: iso(20),
        }),
      ]),
    );
    expect(state.order).toEqual(['waiting-long', 'waiting-short', 'recent', 'old']);
  });
});

describe('append_message', () => {
  const base = () =>
    apply(
      initialLiveState(),
      fullSync([
        conversation('a', [message('1', 'a', 0, 'inbound'), message('2', 'a', 1, 'outbound')]),
        conversation('b', [message('3', 'b', 30, 'outbound')]),
      ]),
    );

  it('updates an existing conversation in place and re-sorts it', () => {
    const state = base();
    expect(state.order).toEqual(['b', 'a']);
    const incoming = message('4', 'a', 60, 'inbound', { sentiment: 0.8, topics: ['greeting'] });
    const node = conversation('a', [message('2', 'a', 1, 'outbound'), incoming], {
      unanswered_since: iso(60),
      message_count: 3,
    });
    const next = apply(state, {
      type: 'append_message',
      payload: { conversation: node, message: incoming },
    });
    expect(next.order).toEqual(['a', 'b']);
    const a = next.conversations.a!;
    // Older messages kept from the sync, the new one appended once, in chat order.
    expect(a.messages.map((m) => m.id)).toEqual(['1', '2', '4']);
    expect(a.last_message?.id).toBe('4');
    expect(a.message_count).toBe(3);
    expect(next.conversations.b).toBe(state.conversations.b);
  });

  it("carries the fan's tier and lifetime spend: an unlock's append updates them, a plain one keeps them", () => {
    const money = (node: ConversationNode | undefined) => {
      const m = node as ConversationNode & { lifetime_spend?: number | null; tier?: string };
      return { spend: m.lifetime_spend, tier: m.tier };
    };
    const offer = message('p1', 'w', 0, 'outbound', { price: 40 });
    const synced = apply(
      initialLiveState(),
      fullSync([conversation('w', [offer], { lifetime_spend: 80, tier: 'spender' } as Partial<ConversationNode>)]),
    );
    expect(money(synced.conversations.w)).toEqual({ spend: 80, tier: 'spender' });
    // The unlock (an edit with isOpened) arrives with the new spend: 80 + 40 makes a whale.
    const unlocked = apply(synced, {
      type: 'append_message',
      payload: {
        conversation: conversation('w', [offer], { lifetime_spend: 120, tier: 'whale' } as Partial<ConversationNode>),
        message: offer,
        edited: true,
      },
    });
    expect(money(unlocked.conversations.w)).toEqual({ spend: 120, tier: 'whale' });
    // An append without the fields (not a money change) keeps the last known values.
    const reply = message('r1', 'w', 5, 'inbound');
    const later = apply(unlocked, append(conversation('w', [reply])));
    expect(money(later.conversations.w)).toEqual({ spend: 120, tier: 'whale' });
    expect(later.conversations.w!.messages.map((m) => m.id)).toEqual(['p1', 'r1']);
  });

  it('replaces an edited message instead of duplicating it', () => {
    const state = base();
    const edited = message('2', 'a', 1, 'outbound', { text: 'edited text' });
    const next = apply(state, {
      type: 'append_message',
      payload: { conversation: conversation('a', [edited]), message: edited, edited: true },
    });
    const ids = next.conversations.a!.messages.map((m) => m.id);
    expect(ids).toEqual(['1', '2']);
    expect(next.conversations.a!.messages[1]!.text).toBe('edited text');
  });

  it('inserts a new conversation at its priority position', () => {
    const state = base();
    const first = message('10', 'new', 45, 'outbound');
    const next = apply(state, {
      type: 'append_message',
      payload: { conversation: conversation('new', [first]), message: first },
    });
    expect(next.order).toEqual(['new', 'b', 'a']);
    const waiting = message('11', 'fan', 70, 'inbound');
    const after = apply(next, {
      type: 'append_message',
      payload: {
        conversation: conversation('fan', [waiting], { unanswered_since: iso(70) }),
        message: waiting,
      },
    });
    expect(after.order).toEqual(['fan', 'new', 'b', 'a']);
    // The incremental insert agrees with a full sort.
    const full = Object.values(after.conversations).sort(comparePriority).map((c) => c.chat_id);
    expect(after.order).toEqual(full);
  });
});

describe('waiting fans', () => {
  const answered = () =>
    apply(
      initialLiveState(),
      fullSync([
        conversation('a', [message('1', 'a', 0, 'inbound'), message('2', 'a', 1, 'outbound')]),
        conversation('b', [message('3', 'b', 30, 'outbound')]),
      ]),
    );

  it('a new fan message makes the fan wait even before the server refreshes its reply rows', () => {
    const incoming = message('4', 'a', 60, 'inbound');
    const stale = conversation('a', [message('2', 'a', 1, 'outbound'), incoming]); // unanswered_since null
    const next = apply(answered(), { type: 'append_message', payload: { conversation: stale, message: incoming } });
    expect(next.conversations.a!.unanswered_since).toBe(iso(60));
    expect(next.order[0]).toBe('a');
  });

  it('the wait starts at the first fan message of the run; unknown direction is skipped', () => {
    const m5 = message('5', 'a', 61, 'unknown');
    const m6 = message('6', 'a', 62, 'inbound');
    let state = apply(answered(), {
      type: 'append_message',
      payload: { conversation: conversation('a', [message('4', 'a', 60, 'inbound')]), message: message('4', 'a', 60, 'inbound') },
    });
    state = apply(state, { type: 'append_message', payload: { conversation: conversation('a', [m5]), message: m5 } });
    state = apply(state, { type: 'append_message', payload: { conversation: conversation('a', [m6]), message: m6 } });
    expect(state.conversations.a!.unanswered_since).toBe(iso(60));
  });

  it('a reply ends the wait even if the server still says waiting', () => {
    const waiting = apply(
      initialLiveState(),
      fullSync([conversation('a', [message('1', 'a', 0, 'inbound')], { unanswered_since: iso(0) })]),
    );
    const reply = message('2', 'a', 5, 'outbound');
    const next = apply(waiting, {
      type: 'append_message',
      payload: { conversation: conversation('a', [reply], { unanswered_since: iso(0) }), message: reply },
    });
    expect(next.conversations.a!.unanswered_since).toBeNull();
  });

  it('a one-message node is merged first, so the wait is derived from the whole chat', () => {
    // The node of an append carries only the new message, not the chat's latest ones.
    const waiting = apply(
      initialLiveState(),
      fullSync([
        conversation('a', [message('1', 'a', 0, 'outbound'), message('2', 'a', 10, 'inbound')], {
          unanswered_since: iso(10),
        }),
      ]),
    );
    const more = message('3', 'a', 20, 'inbound');
    // The server's reply rows may lag: its node says nobody waits yet.
    const next = apply(waiting, append(conversation('a', [more], { message_count: 3 })));
    const a = next.conversations.a!;
    expect(a.messages.map((m) => m.id)).toEqual(['1', '2', '3']);
    expect(a.unanswered_since).toBe(iso(10)); // the run started at message 2, not at 3
    expect(a.message_count).toBe(3);
  });

  it('a late fan message older than the last reply does not make the fan wait', () => {
    const answered = apply(
      initialLiveState(),
      fullSync([conversation('a', [message('1', 'a', 0, 'inbound'), message('2', 'a', 5, 'outbound')])]),
    );
    // Alone, the node's one inbound message would look like an unanswered fan.
    const late = message('0', 'a', 3, 'inbound');
    const node = conversation('a', [late], { last_message: message('2', 'a', 5, 'outbound') });
    const next = apply(answered, append(node));
    expect(next.conversations.a!.messages.map((m) => m.id)).toEqual(['1', '0', '2']);
    expect(next.conversations.a!.unanswered_since).toBeNull();
  });

  it('keeps the server value when the run reaches back beyond the messages held', () => {
    const state = apply(
      initialLiveState(),
      fullSync([conversation('a', [message('9', 'a', 500, 'inbound')], { unanswered_since: iso(100) })]),
    );
    expect(state.conversations.a!.unanswered_since).toBe(iso(100));
  });
});

describe('other frames', () => {
  it('analytics_update replaces the analytics', () => {
    const state = apply(initialLiveState(), fullSync([], analytics('t1', 1)), {
      type: 'analytics_update',
      payload: analytics('t2', 42),
    });
    expect(state.analytics?.computed_at).toBe('t2');
    expect(state.analytics?.response_time.sessions).toBe(42);
  });

  it('enrichment_result patches sentiment and topics of known messages', () => {
    const state = apply(
      initialLiveState(),
      fullSync([conversation('a', [message('1', 'a', 0, 'inbound')])]),
      {
        type: 'enrichment_result',
        payload: {
          messages: [
            { message_id: '1', chat_id: 'a', sentiment: 0.9, topics: ['tips_gifts'] },
            { message_id: 'x', chat_id: 'unknown', sentiment: 0.1, topics: [] },
          ],
          enriched: 1,
          total: 2,
          done: false,
        },
      },
    );
    const a = state.conversations.a!;
    expect(a.messages[0]!.sentiment).toBe(0.9);
    expect(a.messages[0]!.topics).toEqual(['tips_gifts']);
    expect(a.last_message?.sentiment).toBe(0.9);
    expect(state.enrichment?.done).toBe(false);
  });

  it('online_users_update marks fans online by id', () => {
    const state = apply(initialLiveState(), {
      type: 'online_users_update',
      payload: { user_ids: [123, 'fan-a'] },
    });
    expect(state.online.has('123')).toBe(true);
    expect(state.online.has('fan-a')).toBe(true);
    expect(state.online.has('fan-b')).toBe(false);
  });

  it('keeps the latest system errors, bounded', () => {
    let state = initialLiveState();
    for (let i = 0; i < MAX_ERRORS + 2; i++) {
      state = apply(state, {
        type: 'system_error',
        payload: { errorMessage: `e${i}`, code: 'rate_limited' },
      });
    }
    expect(state.errors).toHaveLength(MAX_ERRORS);
    expect(state.errors[state.errors.length - 1]!.errorMessage).toBe(`e${MAX_ERRORS + 1}`);
    const dismissed = liveReducer(state, { kind: 'dismiss_error', id: state.errors[0]!.id });
    expect(dismissed.errors).toHaveLength(MAX_ERRORS - 1);
  });

  it('system_status carries snapshot progress', () => {
    const state = apply(initialLiveState(), {
      type: 'system_status',
      payload: { status: 'PROCESSING_SNAPSHOT', progress: 0.4 },
    });
    expect(state.status?.status).toBe('PROCESSING_SNAPSHOT');
    expect(state.status?.progress).toBe(0.4);
  });
});

describe('event_batch', () => {
  const AT = T0 + 5_000;
  const frame = (f: OutgoingWssMessage) => ({ kind: 'frame', frame: f, at: AT }) as const;
  const synced = () =>
    apply(
      initialLiveState(),
      fullSync(
        [
          conversation('a', [message('1', 'a', 0, 'inbound'), message('2', 'a', 1, 'outbound')]),
          conversation('b', [message('3', 'b', 30, 'outbound')]),
        ],
        analytics('t0', 1),
      ),
    );

  it('gives the same state as the same events sent as plain frames one by one', () => {
    const events = [
      append(conversation('a', [message('4', 'a', 40, 'inbound')], { unanswered_since: iso(40) })),
      append(conversation('b', [message('5', 'b', 41, 'inbound')])), // reply rows not refreshed yet
      append(conversation('a', [message('6', 'a', 42, 'inbound')], { unanswered_since: iso(40) })),
      append(conversation('b', [message('7', 'b', 43, 'outbound')])),
      append(conversation('new', [message('8', 'new', 44, 'inbound')])),
    ];
    const start = synced();
    const oneByOne = events.reduce((s, e) => liveReducer(s, frame(e)), start);
    const batched = liveReducer(start, frame(batch(...events)));
    expect(batched).toEqual(oneByOne);
    expect(batched.order).toEqual(['a', 'new', 'b']);
    expect(batched.conversations.a!.messages.map((m) => m.id)).toEqual(['1', '2', '4', '6']);
    expect(batched.conversations.b!.messages.map((m) => m.id)).toEqual(['3', '5', '7']);
    expect(batched.conversations.b!.unanswered_since).toBeNull();
    expect(batched.lastUpdateAt).toBe(AT);
    expect(start.conversations.a!.messages).toHaveLength(2); // the reducer stays pure
  });

  it('applies mixed events in order', () => {
    const incoming = message('4', 'a', 60, 'inbound');
    const next = liveReducer(
      synced(),
      frame(
        batch(
          { type: 'system_status', payload: { status: 'PROCESSING_SNAPSHOT', progress: 0.5 } },
          { type: 'analytics_update', payload: analytics('t1', 5) },
          append(conversation('a', [incoming])),
          {
            type: 'enrichment_result',
            payload: {
              messages: [{ message_id: '4', chat_id: 'a', sentiment: 0.7, topics: ['greeting'] }],
              enriched: 1,
              total: 1,
              done: true,
            },
          },
          { type: 'analytics_update', payload: analytics('t2', 9) },
          { type: 'system_status', payload: { status: 'REALTIME' } },
        ),
      ),
    );
    // Later events win, and the enrichment found the message appended before it.
    expect(next.analytics?.computed_at).toBe('t2');
    expect(next.analytics?.overview.current.sessions).toBe(9);
    expect(next.status?.status).toBe('REALTIME');
    expect(next.order[0]).toBe('a');
    const last = next.conversations.a!.messages.at(-1)!;
    expect(last.id).toBe('4');
    expect(last.sentiment).toBe(0.7);
    expect(last.topics).toEqual(['greeting']);
    expect(next.enrichment?.done).toBe(true);
  });

  it('skips an event type it does not know and applies the others', () => {
    const unknown = { type: 'typing_indicator', payload: { chat_id: 'a' } };
    const events = [
      { type: 'analytics_update', payload: analytics('t1', 5) },
      unknown,
      append(conversation('b', [message('4', 'b', 60, 'inbound')])),
    ] as unknown as EventBatch['payload']['events'];
    const start = synced();
    const next = liveReducer(start, frame(batch(...events)));
    expect(next.analytics?.computed_at).toBe('t1');
    expect(next.conversations.b!.messages.map((m) => m.id)).toEqual(['3', '4']);
    expect(next.order).toEqual(['b', 'a']);
  });

  it('an empty batch changes nothing', () => {
    const start = synced();
    expect(liveReducer(start, frame(batch()))).toBe(start);
  });
});

describe('connection phases', () => {
  it('goes connecting -> syncing -> live, and reconnecting after a drop', () => {
    let state = liveReducer(initialLiveState(), { kind: 'connecting', attempt: 0 });
    expect(state.connection.phase).toBe('connecting');
    state = apply(state, {
      type: 'connection_ack',
      payload: {
        connection_id: 'c1',
        user_id: 'acct',
        role: 'dashboard',
        server_time: iso(0),
        version: '0.1.0',
      },
    });
    expect(state.connection.phase).toBe('syncing');
    state = apply(state, fullSync([]));
    expect(state.connection.phase).toBe('live');
    state = liveReducer(state, {
      kind: 'closed',
      code: 1006,
      reason: '',
      retryAt: T0 + 1000,
      fatal: false,
    });
    expect(state.connection.phase).toBe('reconnecting');
    state = liveReducer(state, {
      kind: 'closed',
      code: 1008,
      reason: 'revoked',
      retryAt: null,
      fatal: true,
    });
    expect(state.connection.phase).toBe('error');
    expect(state.connection.reason).toBe('revoked');
  });
});

describe('visibleConversations', () => {
  it('filters by topic (conversation, session or message topics) and search', () => {
    const state = apply(
      initialLiveState(),
      fullSync([
        conversation('a', [message('1', 'a', 0, 'inbound', { topics: ['pricing_ppv'] })]),
        conversation('b', [message('2', 'b', 1, 'inbound')], { topics: ['greeting'] }),
        conversation('c', [message('3', 'c', 2, 'inbound')]),
      ]),
    );
    expect(visibleConversations(state, { topic: 'pricing_ppv' }).map((c) => c.chat_id)).toEqual([
      'a',
    ]);
    expect(visibleConversations(state, { topic: 'greeting' }).map((c) => c.chat_id)).toEqual(['b']);
    expect(visibleConversations(state, { search: 'fan c' }).map((c) => c.chat_id)).toEqual(['c']);
  });
});
