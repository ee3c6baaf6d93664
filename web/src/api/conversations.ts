// GET /api/v1/conversations: the server-side search and the window-scoped topic filter of
// the inbox. (REST shapes, not WebSocket frames: the few fields used are typed here.)
import type { ConversationNode, FanView } from '../generated/wss';
import type { Api } from './client';

export interface ConversationListItem {
  chat_id: string;
  source: string;
  fan: FanView;
  status: 'open' | 'answered' | 'none';
  message_count: number;
  inbound_count: number;
  outbound_count: number;
  first_message_at: string | null;
  last_message_at: string | null;
}

export interface ConversationPage {
  total: number;
  page: number;
  limit: number;
  items: ConversationListItem[];
}

export interface ConversationQuery {
  q?: string;
  fan?: string;
  topic?: string;
  start?: string;
  end?: string;
}

/** The most a search lists (the API's page limit); the count still says the total. */
export const SEARCH_LIMIT = 100;

export function listConversations(
  api: Api,
  token: string,
  accountId: string,
  query: ConversationQuery,
  signal?: AbortSignal,
): Promise<ConversationPage> {
  return api.request<ConversationPage>('/api/v1/conversations', {
    token,
    query: { account_id: accountId, limit: SEARCH_LIMIT, ...query },
    signal,
  });
}

export interface SearchResult {
  /** Matching chats, most recently active first (at most SEARCH_LIMIT per field). */
  items: ConversationListItem[];
  /** Chats matching the text in a message or the fan's name (a lower bound when capped). */
  total: number;
  capped: boolean;
}

/** Fans whose name/username matches, or with a message containing the text (every stored one). */
export async function searchConversations(
  api: Api,
  token: string,
  accountId: string,
  text: string,
  signal?: AbortSignal,
): Promise<SearchResult> {
  const [byText, byFan] = await Promise.all([
    listConversations(api, token, accountId, { q: text }, signal),
    listConversations(api, token, accountId, { fan: text }, signal),
  ]);
  const byId = new Map<string, ConversationListItem>();
  for (const item of [...byFan.items, ...byText.items]) byId.set(item.chat_id, item);
  const items = [...byId.values()].sort(
    (a, b) => (Date.parse(b.last_message_at ?? '') || 0) - (Date.parse(a.last_message_at ?? '') || 0),
  );
  const capped = byText.total > byText.items.length || byFan.total > byFan.items.length;
  return { items, total: Math.max(items.length, byText.total, byFan.total), capped };
}

/** A row for a chat the live sync did not send (beyond its 500): what the list API knows. */
export function nodeFromListItem(item: ConversationListItem): ConversationNode {
  return {
    chat_id: item.chat_id,
    fan: item.fan,
    messages: [],
    message_count: item.message_count,
    last_activity_at: item.last_message_at,
    last_message: null,
    unanswered_since: null,
    topics: [],
  };
}
