// GET /api/v1/insights/{reply-time-trend,volume-trend,activity-heatmap} (docs/metrics.md).
// REST-only answers (no WebSocket frame carries them), typed here from the contract.
import type { InsightsQuery } from './insights';
import { ApiError, type Api } from './client';

export interface Window {
  start: string;
  end: string;
}

export interface ReplyTimePoint {
  date: string;
  count: number;
  median_seconds: number | null;
  p90_seconds: number | null;
  within_sla_percentage: number | null;
}

export interface ReplyTimeTrend {
  trend: ReplyTimePoint[];
  granularity: string;
  timezone: string;
  sla_seconds: number;
  window: Window;
}

export interface VolumePoint {
  date: string;
  messages: number;
  inbound_messages: number;
  outbound_messages: number;
}

export interface VolumeTrend {
  trend: VolumePoint[];
  granularity: string;
  timezone: string;
  window: Window;
}

export interface HeatmapCell {
  /** 0 = Monday. */
  weekday: number;
  /** 0-23, local time in the chosen timezone. */
  hour: number;
  inbound_messages: number;
}

export interface ActivityHeatmap {
  cells: HeatmapCell[];
  timezone: string;
  window: Window;
}

/** One chart's answer: its data, or why there is none (an older server has no endpoint). */
export type ChartData<T> = { ok: true; data: T } | { ok: false; missing: boolean; error: string };

export interface TrendsData {
  replyTime: ChartData<ReplyTimeTrend>;
  volume: ChartData<VolumeTrend>;
  heatmap: ChartData<ActivityHeatmap>;
}

export async function fetchTrends(api: Api, token: string, query: InsightsQuery, signal?: AbortSignal): Promise<TrendsData> {
  const params = {
    account_id: query.accountId,
    start: query.range.start,
    end: query.range.end,
    timezone: query.range.timezone,
    granularity: query.range.granularity,
    topic: query.topic ?? undefined,
    chat_id: query.chatId ?? undefined,
  };
  const get = async <T,>(name: string, extra: Record<string, string | undefined> = {}): Promise<ChartData<T>> => {
    try {
      const data = await api.request<T>(`/api/v1/insights/${name}`, { token, query: { ...params, ...extra }, signal });
      return { ok: true, data };
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      const missing = error instanceof ApiError && (error.status === 404 || error.status === 405);
      return { ok: false, missing, error: (error as Error).message };
    }
  };
  const [replyTime, volume, heatmap] = await Promise.all([
    get<ReplyTimeTrend>('reply-time-trend'),
    get<VolumeTrend>('volume-trend'),
    get<ActivityHeatmap>('activity-heatmap', { granularity: undefined }),
  ]);
  return { replyTime, volume, heatmap };
}
