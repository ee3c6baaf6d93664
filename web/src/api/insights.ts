// GET /api/v1/insights/{topics,sentiment-trend,response-time,overview}. The response
// shapes are the same Structs that analytics_update carries, so their types come from the
// generated WebSocket schema.
import type {
  AnalyticsSnapshot,
  OverviewResponse,
  ResponseTimeResponse,
  SentimentTrendResponse,
  TopicsResponse,
} from '../generated/wss';
import type { ResolvedRange } from '../lib/range';
import type { Api } from './client';

export interface InsightsData {
  topics: TopicsResponse;
  sentimentTrend: SentimentTrendResponse;
  responseTime: ResponseTimeResponse;
  overview: OverviewResponse;
  /** Where the numbers came from: the REST API for the chosen window, or the live default. */
  source: 'rest' | 'live';
  fetchedAt: number;
}

export interface InsightsQuery {
  accountId: string;
  range: ResolvedRange;
  topic?: string | null;
  chatId?: string | null;
}

export async function fetchInsights(
  api: Api,
  token: string,
  query: InsightsQuery,
  signal?: AbortSignal,
): Promise<InsightsData> {
  const params = {
    account_id: query.accountId,
    start: query.range.start,
    end: query.range.end,
    timezone: query.range.timezone,
    granularity: query.range.granularity,
    topic: query.topic ?? undefined,
    chat_id: query.chatId ?? undefined,
  };
  const get = <T,>(name: string, extra: Record<string, string | undefined> = {}) =>
    api.request<T>(`/api/v1/insights/${name}`, { token, query: { ...params, ...extra }, signal });
  // The overview has no topic filter in METRICS.md; it always describes the whole account.
  const [topics, sentimentTrend, responseTime, overview] = await Promise.all([
    get<TopicsResponse>('topics', { topic: undefined }),
    get<SentimentTrendResponse>('sentiment-trend'),
    get<ResponseTimeResponse>('response-time'),
    get<OverviewResponse>('overview', { topic: undefined, chat_id: undefined }),
  ]);
  return { topics, sentimentTrend, responseTime, overview, source: 'rest', fetchedAt: Date.now() };
}

export function insightsFromSnapshot(snapshot: AnalyticsSnapshot): InsightsData {
  return {
    topics: snapshot.topics,
    sentimentTrend: snapshot.sentiment_trend,
    responseTime: snapshot.response_time,
    overview: snapshot.overview,
    source: 'live',
    fetchedAt: Date.parse(snapshot.computed_at) || Date.now(),
  };
}
