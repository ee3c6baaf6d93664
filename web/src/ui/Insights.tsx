import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiError, type Api } from '../api/client';
import { fetchInsights, insightsFromSnapshot, type InsightsData } from '../api/insights';
import { fetchTrends, type ChartData, type TrendsData } from '../api/trends';
import type { AnalyticsSnapshot, OverviewWindowValues, TopicRow } from '../generated/wss';
import {
  DASH,
  formatDuration,
  formatMinutes,
  formatNumber,
  formatPercent,
  formatSentiment,
  parseTime,
  plural,
  SENTIMENT_SCALE,
  sentimentLabel,
  sentimentTone,
} from '../lib/format';
import { resolveRange, timeZones, type Granularity } from '../lib/range';
import { Icon, useTopicLabel } from './common';
import { formatMoney } from '../lib/money';
import { ChatterPanel } from './ChatterPanel';
import { ChatterFilter, useChatterOptions } from './MoneyParts';
import { RangeToolbar, useRangeSelection } from './RangeToolbar';
import { explainReason, reasonFor, StatCard, Delta, Value } from './Stats';
import { SentimentChart } from './SentimentChart';
import { ActivityHeatmapChart, ReplyTimeChart, VolumeChart } from './TimeCharts';

/** What a session is, wherever the word appears (docs/metrics.md "Sessions"). */
const SESSION_DEFINITION =
  'A session is a stretch of one chat without a gap of more than 30 minutes (OFCA_SESSION_GAP_MINUTES); ' +
  'a chat (conversation) holds many sessions. A session counts in the window where its first message is.';

const REFRESH_DEBOUNCE_MS = 800;

const OVERVIEW_FIELDS: { key: keyof OverviewWindowValues; label: string; digits?: number; info?: string }[] = [
  { key: 'sessions', label: 'Sessions', info: SESSION_DEFINITION },
  { key: 'messages', label: 'Messages', info: 'Messages created in the window, from fans, the creator or of unknown direction.' },
  { key: 'active_fans', label: 'Active fans', info: 'Chats with a fan message in the window.' },
  { key: 'new_fans', label: 'New fans', info: 'Chats whose first message ever is in the window.' },
  { key: 'average_messages_per_session', label: 'Messages / session', digits: 1, info: SESSION_DEFINITION },
  { key: 'inbound_messages', label: 'From fans', info: 'Fan messages created in the window.' },
];

function Overview({ data }: { data: InsightsData }) {
  const { current, previous } = data.overview;
  return (
    <section className="card-grid overview" aria-label="Overview">
      {OVERVIEW_FIELDS.map(({ key, label, digits, info }) => {
        const value = current[key] as number | null;
        const before = previous[key] as number | null;
        return (
          <StatCard
            key={key}
            label={label}
            value={formatNumber(value, digits ?? 0)}
            reason={reasonFor(current.unavailable_reasons, key)}
            info={info}
            testId={`overview-${key}`}
          >
            <Delta current={value} previous={before} label={label.toLowerCase()} />
          </StatCard>
        );
      })}
    </section>
  );
}

function ResponseTimes({ data }: { data: InsightsData }) {
  const rt = data.responseTime;
  const reply = rt.reply_time;
  const reasons = rt.unavailable_reasons;
  const replyReason = reasonFor(reasons, 'reply_time', 'mean_seconds', 'reply_time.mean_seconds');
  return (
    <section className="card-grid response" aria-label="Response time">
      <StatCard label="Mean reply time" value={formatDuration(reply.mean_seconds)} reason={replyReason} testId="reply-mean" hint={`${plural(reply.count, 'reply', 'replies')}`} info="From a fan's first unanswered message to the creator's next message, for fan messages first written in the window." />
      <StatCard label="Median reply time" value={formatDuration(reply.median_seconds)} reason={replyReason} testId="reply-median" />
      <StatCard label="90th percentile" value={formatDuration(reply.p90_seconds)} reason={replyReason} testId="reply-p90" hint={reply.max_seconds != null ? `max ${formatDuration(reply.max_seconds)}` : undefined} />
      <StatCard
        label={`Within SLA (≤ ${formatDuration(reply.sla_seconds)})`}
        value={formatPercent(reply.within_sla_percentage)}
        reason={reasonFor(reasons, 'within_sla_percentage', 'reply_time.within_sla_percentage') ?? replyReason}
        testId="reply-sla"
      >
        {reply.within_sla_percentage != null ? (
          <span className="meter" aria-hidden="true">
            <span style={{ width: `${Math.min(100, reply.within_sla_percentage)}%` }} />
          </span>
        ) : null}
      </StatCard>
      <StatCard
        label="Unanswered (window)"
        value={formatNumber(reply.unanswered)}
        testId="reply-unanswered"
        hint="fans still waiting who wrote in this window"
        info="Runs of fan messages without a reply whose first message is in the window. The inbox badge counts fans waiting within its own horizon (24 h / 7 d / all)."
      />
      <StatCard
        label="Avg handling time"
        value={formatMinutes(rt.average_handling_time_minutes)}
        reason={reasonFor(reasons, 'average_handling_time_minutes')}
        testId="aht"
        hint={plural(rt.sessions, 'session')}
        info={`Mean session length. ${SESSION_DEFINITION}`}
      />
      <StatCard label="Silence" value={formatPercent(rt.silence_percentage)} reason={reasonFor(reasons, 'silence_percentage')} testId="silence" />
      <StatCard label="Turns / session" value={formatNumber(rt.turns, 1)} reason={reasonFor(reasons, 'turns')} testId="turns" info="Mean number of speaker changes per session." />
    </section>
  );
}

function TrendCell({ row }: { row: TopicRow }) {
  if (row.trend == null) {
    const reason = explainReason(row.unavailable_reasons?.trend ?? 'no_previous_volume');
    return <Value text={DASH} reason={reason} />;
  }
  const direction = Math.abs(row.trend) < 0.05 ? 'flat' : row.trend > 0 ? 'up' : 'down';
  return (
    <span className={`trend trend-${direction}`} title={`${plural(row.previous_volume, 'session')} in the previous window`}>
      {direction === 'up' ? <Icon name="arrowUp" size={13} /> : direction === 'down' ? <Icon name="arrowDown" size={13} /> : '→ '}
      {formatPercent(Math.abs(row.trend), 0)}
      <span className="visually-hidden">{direction === 'down' ? ' down' : direction === 'up' ? ' up' : ' flat'}</span>
    </span>
  );
}

function TopicsTable({ rows, onTopic }: { rows: readonly TopicRow[]; onTopic: (topic: string) => void }) {
  const label = useTopicLabel();
  // Servers with the money API add each topic's revenue (a session with two topics counts
  // toward both, so the column does not add up to the total); older ones leave it out.
  const money = rows.some((row) => row.revenue !== undefined);
  if (!rows.length) {
    return <p className="muted table-empty">No topics detected in this window.</p>;
  }
  return (
    <div className="table-wrap">
      <table className="topics-table">
        <caption className="visually-hidden">Topics by volume; choose a topic to see its conversations in the inbox</caption>
        <thead>
          <tr>
            <th scope="col">Topic</th>
            <th scope="col" className="num" title={`Sessions having the topic. ${SESSION_DEFINITION}`}>Sessions</th>
            <th scope="col" className="num">% of total</th>
            <th scope="col" className="num">Trend</th>
            <th scope="col" className="num" title="Average handling time">AHT</th>
            <th scope="col" className="num">Silence</th>
            <th scope="col" className="num">Turns</th>
            <th scope="col" className="num" title={SENTIMENT_SCALE}>Fan sentiment</th>
            {money ? (
              <th scope="col" className="num" title="Revenue of the topic's sessions (a session with two topics counts for both), and per session">
                Revenue
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const reasons = row.unavailable_reasons ?? {};
            const tone = sentimentTone(row.sentiment_score);
            return (
              <tr key={row.topic} data-topic={row.topic}>
                <th scope="row">
                  <button type="button" className="link-button" onClick={() => onTopic(row.topic)} title="Show these conversations in the inbox">
                    {row.label || label(row.topic)}
                  </button>
                </th>
                <td className="num">{formatNumber(row.volume)}</td>
                <td className="num">
                  <span className="pct-cell">
                    <span className="pct-bar" aria-hidden="true">
                      <span style={{ width: `${Math.min(100, row.percentage_of_total)}%` }} />
                    </span>
                    <span className="pct-text">{formatPercent(row.percentage_of_total)}</span>
                  </span>
                </td>
                <td className="num">
                  <TrendCell row={row} />
                </td>
                <td className="num">
                  <Value text={formatMinutes(row.average_handling_time_minutes)} reason={explainReason(reasons.average_handling_time_minutes)} />
                </td>
                <td className="num">
                  <Value text={formatPercent(row.silence_percentage)} reason={explainReason(reasons.silence_percentage)} />
                </td>
                <td className="num">
                  <Value text={formatNumber(row.turns, 1)} reason={explainReason(reasons.turns)} />
                </td>
                <td className="num">
                  {row.sentiment_score == null ? (
                    <Value text={DASH} reason={explainReason(reasons.sentiment_score)} />
                  ) : (
                    <span className={`sentiment-text sentiment-${tone}`} title={`${sentimentLabel(row.sentiment_score)} (0–100)`}>
                      <span className="sentiment-dot" aria-hidden="true" />
                      {formatSentiment(row.sentiment_score)}
                      <span className="sentiment-word"> {sentimentLabel(row.sentiment_score)}</span>
                    </span>
                  )}
                </td>
                {money ? (
                  <td className="num" data-value={row.revenue ?? ''}>
                    {row.revenue === undefined ? (
                      <Value text={DASH} reason="Not reported for this topic." />
                    ) : (
                      <span title={`${formatMoney(row.revenue_per_session)} per session`}>{formatMoney(row.revenue)}</span>
                    )}
                  </td>
                ) : null}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function Insights({
  api,
  token,
  accountId,
  liveAnalytics,
  liveUpdateAt,
  onTopic,
  chat = null,
  onClearChat,
  chatter = null,
  onChatter,
}: {
  api: Api;
  token: string;
  accountId: string;
  liveAnalytics: AnalyticsSnapshot | null;
  liveUpdateAt: number | null;
  /** Choose a topic: the inbox lists the chats with a session having it in this window. */
  onTopic: (topic: string, window: { start: string; end: string } | null) => void;
  /** Narrow every chart and table to one fan's chat (METRICS.md "Filters"). */
  chat?: { id: string; name: string } | null;
  onClearChat?: () => void;
  /** A chatter (METRICS.md "Chatters"): their own numbers in a panel of their own. */
  chatter?: string | null;
  onChatter?: (chatter: string | null) => void;
}) {
  const [selection, setSelection] = useRangeSelection();
  const [data, setData] = useState<InsightsData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [restMissing, setRestMissing] = useState(false);
  const [trends, setTrends] = useState<TrendsData | null>(null);
  const zones = useMemo(timeZones, []);
  const requestRef = useRef<AbortController | null>(null);
  const selectionKey = JSON.stringify(selection);

  // Fetch at once for a new window or filter; again, debounced, whenever live data changes.
  // (``selection`` is read through ``selectionKey``; ``data`` only tells first load apart.)
  const queryKey = `${accountId}|${selectionKey}|${chat?.id ?? ''}`;
  const lastQueryKey = useRef<string | null>(null);
  useEffect(() => {
    const liveRefresh = data !== null && lastQueryKey.current === queryKey;
    lastQueryKey.current = queryKey;
    const delay = liveRefresh ? REFRESH_DEBOUNCE_MS : 0;
    const timer = setTimeout(() => {
      requestRef.current?.abort();
      const controller = new AbortController();
      requestRef.current = controller;
      setLoading(true);
      const range = resolveRange(selection);
      const query = { accountId, range, chatId: chat?.id ?? null };
      fetchTrends(api, token, query, controller.signal)
        .then(setTrends)
        .catch(() => {});
      fetchInsights(api, token, query, controller.signal)
        .then((result) => {
          setData(result);
          setError(null);
          setRestMissing(false);
        })
        .catch((err: unknown) => {
          if ((err as Error).name === 'AbortError') return;
          const missing = err instanceof ApiError && (err.status === 404 || err.status === 405);
          setRestMissing(missing);
          setError(missing ? null : err instanceof Error ? err.message : String(err));
        })
        .finally(() => {
          if (requestRef.current === controller) setLoading(false);
        });
    }, delay);
    return () => clearTimeout(timer);
  }, [api, token, queryKey, liveUpdateAt]);

  useEffect(() => () => requestRef.current?.abort(), []);

  // Without the REST API (older server), show the live default window the socket carries.
  const shown = restMissing && liveAnalytics ? insightsFromSnapshot(liveAnalytics) : data;
  const range = resolveRange(selection);
  const chatterOptions = useChatterOptions(api, token, accountId, range);
  const chatterLabel = chatter ? (chatterOptions?.find((o) => o.chatter === chatter)?.label ?? chatter) : null;
  const granularity = (shown?.sentimentTrend.granularity as Granularity | undefined) ?? range.granularity;
  const updated = shown ? new Date(shown.fetchedAt).toLocaleTimeString() : null;

  return (
    <div className="insights">
      <div className="insights-head">
        <RangeToolbar selection={selection} onChange={setSelection} zones={zones}>
          {onChatter ? <ChatterFilter options={chatterOptions} value={chatter} onChange={onChatter} /> : null}
        </RangeToolbar>
        <div className="insights-status muted" aria-live="polite">
          {loading ? <span className="spinner" aria-hidden="true" /> : null}
          {loading ? 'Updating…' : updated ? `Updated ${updated}` : null}
        </div>
      </div>
      {chat ? (
        <div className="filter-bar">
          <span className="chip topic filter-chip">
            <Icon name="filter" size={13} />
            Fan: {chat.name}
            <button type="button" className="chip-close" onClick={onClearChat} aria-label={`Show insights for all fans, not only ${chat.name}`}>
              <Icon name="close" size={12} />
            </button>
          </span>
          <span className="muted">Topics, sentiment and response times of this fan’s chat; the overview covers the whole account.</span>
        </div>
      ) : null}
      {chatter ? (
        <div className="filter-bar">
          <span className="chip topic filter-chip">
            <Icon name="filter" size={13} />
            Chatter: {chatterLabel}
            <button type="button" className="chip-close" onClick={() => onChatter?.(null)} aria-label={`Clear the chatter filter ${chatterLabel}`}>
              <Icon name="close" size={12} />
            </button>
          </span>
        </div>
      ) : null}
      {chatter ? <ChatterPanel api={api} token={token} accountId={accountId} range={range} chatter={chatter} liveUpdateAt={liveUpdateAt} /> : null}
      {restMissing ? (
        <div className="notice" role="status">
          This server has no insights API yet: showing the live default window (last 30 days, UTC).
        </div>
      ) : null}
      {error ? (
        <div className="notice notice-error" role="alert">
          <Icon name="alert" size={16} /> Could not load insights: {error}
        </div>
      ) : null}
      {!shown ? (
        <div className="insights-skeleton" aria-busy="true">
          <div className="skeleton-block" />
          <div className="skeleton-block tall" />
        </div>
      ) : (
        <>
          <p className="window-note muted">
            {describeWindow(shown)} · compared with the previous {range.days} days
          </p>
          <Overview data={shown} />
          <section className="panel" aria-labelledby="response-title">
            <div className="panel-head">
              <h2 id="response-title">Response time</h2>
              <span className="muted">How long fans wait for an answer, and how conversations flow</span>
            </div>
            <ResponseTimes data={shown} />
          </section>
          <section className="panel" aria-labelledby="reply-trend-title">
            <div className="panel-head">
              <h2 id="reply-trend-title">Reply time over time</h2>
              <span className="muted">
                median and 90th percentile per {granularity === 'hour' ? 'hour' : granularity === 'week' ? 'week' : 'day'} ·{' '}
                {range.timezone}
              </span>
            </div>
            <ChartSlot data={trends?.replyTime} what="reply-time trend">
              {(d) => <ReplyTimeChart trend={d.trend} granularity={granularity} timeZone={d.timezone} slaSeconds={d.sla_seconds} />}
            </ChartSlot>
          </section>
          <div className="panel-pair">
            <section className="panel" aria-labelledby="volume-title">
              <div className="panel-head">
                <h2 id="volume-title">Message volume</h2>
                <span className="muted">from fans and from the creator</span>
              </div>
              <ChartSlot data={trends?.volume} what="message volume">
                {(d) => <VolumeChart trend={d.trend} granularity={granularity} timeZone={d.timezone} />}
              </ChartSlot>
            </section>
            <section className="panel" aria-labelledby="heatmap-title">
              <div className="panel-head">
                <h2 id="heatmap-title">When fans write</h2>
                <span className="muted">hour × weekday · {range.timezone}</span>
              </div>
              <ChartSlot data={trends?.heatmap} what="activity heatmap">
                {(d) => <ActivityHeatmapChart heatmap={d} />}
              </ChartSlot>
            </section>
          </div>
          <section className="panel" aria-labelledby="trend-title">
            <div className="panel-head">
              <h2 id="trend-title" title={SENTIMENT_SCALE}>
                Fan sentiment <span className="muted small">0–100: negative · neutral · positive</span>
              </h2>
              <span className="muted">
                {granularity === 'hour' ? 'hourly' : granularity === 'week' ? 'weekly' : 'daily'} ·{' '}
                {shown.sentimentTrend.timezone}
              </span>
            </div>
            <SentimentChart
              trend={shown.sentimentTrend.trend}
              granularity={granularity}
              timeZone={shown.sentimentTrend.timezone}
            />
          </section>
          <section className="panel" aria-labelledby="topics-title">
            <div className="panel-head">
              <h2 id="topics-title">Topics</h2>
              <span className="muted">Sessions by topic; choose one to list its chats in the inbox (same window)</span>
            </div>
            <TopicsTable
              rows={shown.topics.topics}
              onTopic={(topic) => onTopic(topic, { start: shown.topics.window.start, end: shown.topics.window.end })}
            />
          </section>
        </>
      )}
    </div>
  );
}

function describeWindow(data: InsightsData): string {
  const { start, end } = data.topics.window;
  const s = parseTime(start);
  const e = parseTime(end);
  if (s === null || e === null) return '';
  const fmt = (ms: number) => new Date(ms).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
  return `${fmt(s)} – ${fmt(e - 1)}`;
}

/** A chart's data, or why it is missing (an older server without the endpoint, an error). */
function ChartSlot<T>({
  data,
  what,
  children,
}: {
  data: ChartData<T> | undefined;
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (!data) return <div className="skeleton-block chart-skeleton" aria-busy="true" />;
  if (data.ok) return <>{children(data.data)}</>;
  return (
    <p className="muted table-empty">
      {data.missing ? `This server has no ${what} yet.` : `Could not load the ${what}: ${data.error}`}
    </p>
  );
}
