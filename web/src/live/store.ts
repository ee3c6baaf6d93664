// The live state of one account's dashboard, driven by /ws/frontend frames.
//
// A pure reducer: every WebSocket frame and connection event becomes an action, so the
// whole live behaviour (full sync replaces, appends update in place and re-sort, enrichment
// patches messages) is unit-tested without a browser or a server. An event_batch frame is
// one action too, so a burst of live events costs one React update.
import type {
  AnalyticsSnapshot,
  ConnectionAckPayload,
  ConversationNode,
  EnrichmentResultPayload,
  MessageEnrichment,
  MessageView,
  OutgoingWssMessage,
  SystemErrorPayload,
  SystemStatusPayload,
} from '../generated/wss';
import { parseTime } from '../lib/format';

/** Messages kept per conversation in memory (the server sends the latest ones). */
export const MAX_MESSAGES_PER_CONVERSATION = 300;
/** Errors kept for display. */
export const MAX_ERRORS = 5;

export type ConnectionPhase =
  | 'idle' // not started (no account selected)
  | 'connecting' // opening the socket
  | 'syncing' // connected, waiting for full_sync_response
  | 'live' // full sync applied; deltas flowing
  | 'reconnecting' // lost; retrying after a backoff
  | 'error'; // closed for a reason retrying cannot fix (auth)

export interface ConnectionState {
  phase: ConnectionPhase;
  attempt: number;
  /** Epoch ms of the next reconnect attempt while reconnecting. */
  retryAt: number | null;
  closeCode: number | null;
  reason: string | null;
}

export interface ShownError extends SystemErrorPayload {
  id: number;
  at: number;
}

export interface LiveState {
  connection: ConnectionState;
  ack: ConnectionAckPayload | null;
  /** The server pipeline's state (snapshot processing, realtime, error). */
  status: SystemStatusPayload | null;
  conversations: Readonly<Record<string, ConversationNode>>;
  /** Chat ids in inbox priority order. */
  order: readonly string[];
  analytics: AnalyticsSnapshot | null;
  excludedMessages: number;
  online: ReadonlySet<string>;
  enrichment: EnrichmentResultPayload | null;
  errors: readonly ShownError[];
  /** Epoch ms of the last frame that changed data (for "updated …" hints). */
  lastUpdateAt: number | null;
  /** Number of full syncs applied since the page loaded (1 on first load). */
  syncCount: number;
}

export type LiveAction =
  | { kind: 'frame'; frame: OutgoingWssMessage; at: number }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'opened' }
  | { kind: 'closed'; code: number; reason: string; retryAt: number | null; fatal: boolean }
  | { kind: 'dismiss_error'; id: number }
  | { kind: 'reset' };

export function initialLiveState(): LiveState {
  return {
    connection: { phase: 'idle', attempt: 0, retryAt: null, closeCode: null, reason: null },
    ack: null,
    status: null,
    conversations: {},
    order: [],
    analytics: null,
    excludedMessages: 0,
    online: new Set(),
    enrichment: null,
    errors: [],
    lastUpdateAt: null,
    syncCount: 0,
  };
}

// --------------------------------------------------------------------------- ordering

function timeOr(value: string | null | undefined, fallback: number): number {
  return parseTime(value) ?? fallback;
}

/**
 * Inbox priority: fans waiting for an answer first, the longest wait first; then the
 * rest by last activity, newest first; ties by chat id so the order is stable.
 */
export function comparePriority(a: ConversationNode, b: ConversationNode): number {
  const aWaiting = a.unanswered_since != null;
  const bWaiting = b.unanswered_since != null;
  if (aWaiting !== bWaiting) return aWaiting ? -1 : 1;
  if (aWaiting && bWaiting) {
    const diff =
      timeOr(a.unanswered_since, Infinity) - timeOr(b.unanswered_since, Infinity);
    if (diff !== 0) return diff;
  }
  const activity =
    timeOr(b.last_activity_at, -Infinity) - timeOr(a.last_activity_at, -Infinity);
  if (activity !== 0 && !Number.isNaN(activity)) return activity;
  return a.chat_id < b.chat_id ? -1 : a.chat_id > b.chat_id ? 1 : 0;
}

export function sortedChatIds(conversations: Readonly<Record<string, ConversationNode>>): string[] {
  return Object.values(conversations)
    .sort(comparePriority)
    .map((c) => c.chat_id);
}

/** Moves one chat to its place in an already sorted order (O(n), no full re-sort). */
function reposition(
  order: readonly string[],
  conversations: Readonly<Record<string, ConversationNode>>,
  chatId: string,
): string[] {
  const rest = order.filter((id) => id !== chatId);
  const node = conversations[chatId];
  if (!node) return rest;
  let low = 0;
  let high = rest.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    const other = conversations[rest[mid]!];
    if (other && comparePriority(other, node) <= 0) low = mid + 1;
    else high = mid;
  }
  rest.splice(low, 0, chatId);
  return rest;
}

/** Chat order of messages: by (created_at, id); messages without a time go last. */
export function compareMessages(a: MessageView, b: MessageView): number {
  const diff = timeOr(a.created_at, Infinity) - timeOr(b.created_at, Infinity);
  if (diff !== 0 && !Number.isNaN(diff)) return diff;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Union by message id (later lists win), in chat order, bounded to the newest ones. */
export function mergeMessages(...lists: readonly (readonly MessageView[])[]): MessageView[] {
  const byId = new Map<string, MessageView>();
  for (const list of lists) for (const message of list) byId.set(message.id, message);
  const merged = [...byId.values()].sort(compareMessages);
  return merged.length > MAX_MESSAGES_PER_CONVERSATION
    ? merged.slice(merged.length - MAX_MESSAGES_PER_CONVERSATION)
    : merged;
}

// --------------------------------------------------------------------------- waiting

/**
 * Since when the fan has been waiting, from the messages at hand (METRICS.md "Replies": the
 * trailing run of inbound messages with no outbound after it; unknown direction and untimed
 * messages neither start nor break a run). The server's value can lag behind a delta by a
 * moment (its reply rows are refreshed after the message is published), so the messages
 * decide whether the fan is waiting; the server's value is kept when the run may reach back
 * beyond the messages held here.
 */
export function deriveUnansweredSince(node: ConversationNode, previous?: ConversationNode): string | null {
  let since: string | null = null;
  let sawDirected = false;
  for (let i = node.messages.length - 1; i >= 0; i--) {
    const message = node.messages[i]!;
    if (message.direction === 'unknown' || parseTime(message.created_at) === null) continue;
    if (message.direction === 'outbound') {
      // Nothing inbound after the last reply: not waiting. Otherwise the run is complete.
      return sawDirected ? since : null;
    }
    sawDirected = true;
    since = message.created_at ?? since;
  }
  if (!sawDirected) return node.unanswered_since ?? null;
  return node.unanswered_since ?? previous?.unanswered_since ?? since;
}

function withDerivedWait(node: ConversationNode, previous?: ConversationNode): ConversationNode {
  const unanswered_since = deriveUnansweredSince(node, previous);
  return unanswered_since === (node.unanswered_since ?? null) ? node : { ...node, unanswered_since };
}

// --------------------------------------------------------------------------- frames

/**
 * The fan's money fields of a node (``lifetime_spend``, ``tier``): an append that leaves them
 * out keeps the last known ones instead of dropping them; one that carries them wins.
 */
function moneyOf(node: ConversationNode | undefined): Pick<ConversationNode, 'lifetime_spend' | 'tier'> {
  const carried: Pick<ConversationNode, 'lifetime_spend' | 'tier'> = {};
  if (node && 'lifetime_spend' in node) carried.lifetime_spend = node.lifetime_spend;
  if (node && 'tier' in node) carried.tier = node.tier;
  return carried;
}

function applyAppend(
  state: LiveState,
  conversation: ConversationNode,
  message: MessageView,
): LiveState {
  const previous = state.conversations[conversation.chat_id];
  const merged = withDerivedWait(
    {
      ...moneyOf(previous),
      ...conversation,
      messages: mergeMessages(previous?.messages ?? [], conversation.messages, [message]),
    },
    previous,
  );
  const conversations = { ...state.conversations, [conversation.chat_id]: merged };
  return {
    ...state,
    conversations,
    order: reposition(state.order, conversations, conversation.chat_id),
  };
}

function enrichMessage(message: MessageView, update: MessageEnrichment): MessageView {
  return { ...message, sentiment: update.sentiment, topics: update.topics, enriched: true };
}

function applyEnrichment(state: LiveState, payload: EnrichmentResultPayload): LiveState {
  const byChat = new Map<string, Map<string, MessageEnrichment>>();
  for (const item of payload.messages ?? []) {
    let forChat = byChat.get(item.chat_id);
    if (!forChat) byChat.set(item.chat_id, (forChat = new Map()));
    forChat.set(item.message_id, item);
  }
  let conversations = state.conversations;
  for (const [chatId, updates] of byChat) {
    const node = conversations[chatId];
    if (!node) continue;
    const messages = node.messages.map((m) => {
      const update = updates.get(m.id);
      return update ? enrichMessage(m, update) : m;
    });
    const lastUpdate = node.last_message ? updates.get(node.last_message.id) : undefined;
    const last_message =
      node.last_message && lastUpdate ? enrichMessage(node.last_message, lastUpdate) : node.last_message;
    conversations = { ...conversations, [chatId]: { ...node, messages, last_message } };
  }
  return { ...state, conversations, enrichment: payload };
}

function applyFrame(state: LiveState, frame: OutgoingWssMessage, at: number): LiveState {
  switch (frame.type) {
    case 'connection_ack':
      return {
        ...state,
        ack: frame.payload,
        connection: { ...state.connection, phase: 'syncing', closeCode: null, reason: null },
      };
    case 'full_sync_response': {
      const conversations: Record<string, ConversationNode> = {};
      for (const node of frame.payload.conversations) {
        conversations[node.chat_id] = withDerivedWait({ ...node, messages: mergeMessages(node.messages) });
      }
      return {
        ...state,
        conversations,
        order: sortedChatIds(conversations),
        analytics: frame.payload.analytics ?? null,
        excludedMessages: frame.payload.excluded_messages ?? 0,
        connection: { ...state.connection, phase: 'live', attempt: 0, retryAt: null },
        lastUpdateAt: at,
        syncCount: state.syncCount + 1,
      };
    }
    case 'append_message':
      return {
        ...applyAppend(state, frame.payload.conversation, frame.payload.message),
        lastUpdateAt: at,
      };
    case 'analytics_update':
      return { ...state, analytics: frame.payload, lastUpdateAt: at };
    case 'enrichment_result':
      return { ...applyEnrichment(state, frame.payload), lastUpdateAt: at };
    case 'system_status':
      return { ...state, status: frame.payload };
    case 'online_users_update':
      return { ...state, online: new Set(frame.payload.user_ids.map(String)) };
    case 'system_error': {
      const id = (state.errors[state.errors.length - 1]?.id ?? 0) + 1;
      const errors = [...state.errors, { ...frame.payload, id, at }];
      return { ...state, errors: errors.slice(-MAX_ERRORS) };
    }
    case 'event_batch': {
      // A burst of live events in one frame (the socket opts in with ?batch=1): each goes
      // through its plain frame's case, in order, and the UI renders the result once.
      let next = state;
      for (const event of frame.payload.events) next = applyFrame(next, event, at);
      return next;
    }
    case 'command_to_execute':
    case 'ingest_ack':
      return state; // meant for the extension, not for dashboards
    default:
      return state; // a newer server's frame type: ignore rather than break
  }
}

export function liveReducer(state: LiveState, action: LiveAction): LiveState {
  switch (action.kind) {
    case 'frame':
      return applyFrame(state, action.frame, action.at);
    case 'connecting':
      return {
        ...state,
        connection: {
          ...state.connection,
          phase: action.attempt === 0 ? 'connecting' : 'reconnecting',
          attempt: action.attempt,
          retryAt: null,
        },
      };
    case 'opened':
      return { ...state, connection: { ...state.connection, phase: 'syncing' } };
    case 'closed':
      return {
        ...state,
        connection: {
          phase: action.fatal ? 'error' : 'reconnecting',
          attempt: state.connection.attempt,
          retryAt: action.retryAt,
          closeCode: action.code,
          reason: action.reason || null,
        },
      };
    case 'dismiss_error':
      return { ...state, errors: state.errors.filter((e) => e.id !== action.id) };
    case 'reset':
      return initialLiveState();
  }
}

// --------------------------------------------------------------------------- selectors

/** Topics of a conversation: its own, its latest session's and its messages'. */
export function conversationTopics(node: ConversationNode): Set<string> {
  const topics = new Set<string>(node.topics ?? []);
  for (const topic of node.session?.topics ?? []) topics.add(topic);
  for (const message of node.messages) for (const topic of message.topics ?? []) topics.add(topic);
  return topics;
}

export interface InboxFilter {
  topic?: string | null;
  search?: string;
  unansweredOnly?: boolean;
}

export function visibleConversations(state: LiveState, filter: InboxFilter): ConversationNode[] {
  const needle = filter.search?.trim().toLocaleLowerCase() ?? '';
  const result: ConversationNode[] = [];
  for (const id of state.order) {
    const node = state.conversations[id];
    if (!node) continue;
    if (filter.unansweredOnly && node.unanswered_since == null) continue;
    if (filter.topic && !conversationTopics(node).has(filter.topic)) continue;
    if (needle) {
      const haystack = [node.fan.name, node.fan.username, node.chat_id, node.last_message?.text]
        .filter(Boolean)
        .join(' ')
        .toLocaleLowerCase();
      if (!haystack.includes(needle)) continue;
    }
    result.push(node);
  }
  return result;
}

export function isOnline(state: LiveState, node: ConversationNode): boolean {
  return state.online.has(String(node.fan.id));
}
