// GET /api/v1/insights/{revenue,fans,chatters} and GET /api/v1/export/chatters (METRICS.md
// "Money: tips and pay-per-view (PPV)" and "Chatters"). REST-only answers, typed here from
// the contract: every name below is the contract's, none renamed.
import type { InsightsQuery } from './insights';
import type { Window } from './trends';
import { ApiError, type Api } from './client';

/** Why a value is null, by field name (reason codes: no_ppv_offered, no_paying_fans, ...). */
export type Reasons = { [field: string]: string | undefined };

export interface RevenueValues {
  gross: number;
  net: number;
  tips: number;
  tips_amount: number;
  tips_without_amount: number;
  ppv_offered: number;
  ppv_purchased: number;
  ppv_revenue: number;
  unlock_rate: number | null;
  average_purchase: number | null;
  paying_fans: number;
  revenue_per_paying_fan: number | null;
  revenue_per_session: number | null;
  unavailable_reasons?: Reasons;
}

export interface RevenuePoint {
  date: string;
  gross: number;
  tips_amount: number;
  ppv_revenue: number;
  ppv_offered: number;
  ppv_purchased: number;
}

export interface RevenueResponse {
  current: RevenueValues;
  previous: RevenueValues;
  trend: RevenuePoint[];
  window: Window;
  previous_window: Window;
  /** Not in the contract's list, but sent by servers that echo them (as the other trends do). */
  granularity?: string;
  timezone?: string;
}

export type Tier = 'whale' | 'spender' | 'free';

export interface FanRow {
  chat_id: string;
  fan: { name?: string | null; username?: string | null };
  lifetime_spend: number;
  window_spend: number;
  tips_amount: number;
  ppv_revenue: number;
  last_paid_at: string | null;
  tier: Tier;
  waiting_seconds: number | null;
}

export interface FansResponse {
  fans: FanRow[];
  spend_waiting: number;
  fans_waiting: number;
  as_of: string;
  window: Window;
}

export interface ChatterReplyTime {
  count: number;
  mean_seconds: number | null;
  median_seconds: number | null;
  p90_seconds: number | null;
  within_sla_percentage: number | null;
}

export interface ChatterRow {
  chatter: string;
  name: string | null;
  messages_sent: number;
  fans: number;
  replies: number;
  reply_time: ChatterReplyTime;
  ppv_offered: number;
  ppv_purchased: number;
  ppv_revenue: number;
  unlock_rate: number | null;
  tips_amount: number;
  revenue: number;
  revenue_per_message: number | null;
  unavailable_reasons?: Reasons;
}

export interface ChattersResponse {
  chatters: ChatterRow[];
  window: Window;
}

export interface MoneyQuery extends InsightsQuery {
  chatter?: string | null;
}

/** An answer, or why there is none: ``missing`` when the server has no such endpoint. */
export type Loaded<T> = { ok: true; data: T } | { ok: false; missing: boolean; error: string };

function baseParams(query: MoneyQuery): Record<string, string | undefined> {
  return {
    account_id: query.accountId,
    start: query.range.start,
    end: query.range.end,
    timezone: query.range.timezone,
    granularity: query.range.granularity,
    topic: query.topic ?? undefined,
    chat_id: query.chatId ?? undefined,
    chatter: query.chatter ?? undefined,
  };
}

async function load<T>(
  api: Api,
  token: string,
  path: string,
  params: Record<string, string | number | undefined>,
  signal?: AbortSignal,
): Promise<Loaded<T>> {
  try {
    return { ok: true, data: await api.request<T>(path, { token, query: params, signal }) };
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    const missing = error instanceof ApiError && (error.status === 404 || error.status === 405);
    return { ok: false, missing, error: (error as Error).message };
  }
}

export function fetchRevenue(api: Api, token: string, query: MoneyQuery, signal?: AbortSignal) {
  return load<RevenueResponse>(api, token, '/api/v1/insights/revenue', baseParams(query), signal);
}

/** The chatter parameters: the window and filters, no buckets. */
function chatterParams(query: MoneyQuery): Record<string, string | undefined> {
  const params = baseParams(query);
  delete params.granularity;
  delete params.timezone;
  return params;
}

export function fetchChatters(api: Api, token: string, query: MoneyQuery, signal?: AbortSignal) {
  const params = chatterParams(query);
  return load<ChattersResponse>(api, token, '/api/v1/insights/chatters', params, signal);
}

export const FANS_LIMIT_MAX = 500;

export function fetchFans(
  api: Api,
  token: string,
  query: MoneyQuery & { tier?: Tier | null; limit?: number },
  signal?: AbortSignal,
) {
  return load<FansResponse>(
    api,
    token,
    '/api/v1/insights/fans',
    {
      account_id: query.accountId,
      start: query.range.start,
      end: query.range.end,
      tier: query.tier ?? undefined,
      limit: query.limit,
    },
    signal,
  );
}

/** The server's CSV of the chatters leaderboard (GET /api/v1/export/chatters?format=csv). */
export function chattersExportPath(query: MoneyQuery): { path: string; params: Record<string, string | undefined> } {
  return { path: '/api/v1/export/chatters', params: { ...chatterParams(query), format: 'csv' } };
}
