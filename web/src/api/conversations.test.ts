import { describe, expect, it } from 'vitest';
import type { Api } from './client';
import { ApiError, fieldErrors } from './client';
import { searchConversations, type ConversationListItem } from './conversations';

function item(chat_id: string, last: string): ConversationListItem {
  return {
    chat_id,
    source: 'onlyfans',
    fan: { id: chat_id, name: chat_id },
    status: 'open',
    message_count: 1,
    inbound_count: 1,
    outbound_count: 0,
    first_message_at: last,
    last_message_at: last,
  };
}

describe('server search', () => {
  it('asks for message text (q) and fan names (fan), merges them, newest first, with the total', async () => {
    const asked: Record<string, unknown>[] = [];
    const api = {
      request: async (_path: string, options: { query?: Record<string, unknown> }) => {
        asked.push(options.query ?? {});
        if (options.query?.q) return { total: 2, page: 1, limit: 100, items: [item('a', '2026-12-01T00:00:00Z'), item('b', '2026-12-03T00:00:00Z')] };
        return { total: 1, page: 1, limit: 100, items: [item('b', '2026-12-03T00:00:00Z')] };
      },
    } as unknown as Api;
    const result = await searchConversations(api, 'token', 'acct', 'telegram');
    expect(asked).toEqual([
      { account_id: 'acct', limit: 100, q: 'telegram' },
      { account_id: 'acct', limit: 100, fan: 'telegram' },
    ]);
    expect(result.items.map((i) => i.chat_id)).toEqual(['b', 'a']);
    expect(result.total).toBe(2);
    expect(result.capped).toBe(false);
  });

  it("reads a 422's fields for the form", () => {
    const body = { detail: 'Invalid password: must be at least 10 characters', errors: [{ key: 'password', message: 'Expected `str` of length >= 10', source: 'body' }] };
    expect(fieldErrors(body)).toEqual({ password: 'must be at least 10 characters' });
    expect(new ApiError(422, 'x', fieldErrors(body)).fields.password).toBe('must be at least 10 characters');
  });
});
