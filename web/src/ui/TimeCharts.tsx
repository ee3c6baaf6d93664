// Charts over time: reply time (median and p90 per bucket), message volume (from fans, from
// the creator) and when fans write (hour x weekday). Drawn in real pixels of their container
// (useWidth), so labels stay readable on a phone; empty buckets are gaps, never zeros.
import { useId, useState, type ReactNode } from 'react';
import type { RevenuePoint } from '../api/money';
import type { ActivityHeatmap, ReplyTimePoint, VolumePoint } from '../api/trends';
import { dateFormatter, formatDuration, formatNumber, formatPercent, parseTime, plural } from '../lib/format';
import { formatMoney } from '../lib/money';
import type { Granularity } from '../lib/range';
import { useWidth } from '../lib/useWidth';

export function bucketLabel(date: string, granularity: Granularity, timeZone: string, long = false): string {
  const ms = parseTime(date);
  if (ms === null) return date;
  const options: Intl.DateTimeFormatOptions =
    granularity === 'hour'
      ? { hour: '2-digit', minute: '2-digit', ...(long ? { day: 'numeric', month: 'short' } : {}) }
      : { day: 'numeric', month: 'short', ...(long && granularity === 'week' ? { year: 'numeric' } : {}) };
  return dateFormatter({ ...options, timeZone }).format(ms);
}

/** 1-2-5 steps: a round tick spacing for ``max`` over about ``count`` ticks. */
function niceStep(max: number, count: number): number {
  const raw = max / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  for (const factor of [1, 2, 5, 10]) if (factor * power >= raw) return factor * power;
  return 10 * power;
}

/** Round durations for the reply-time axis: 30 s, 1 m, 5 m, 15 m, 1 h, ... */
const DURATION_STEPS = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 172800];
function durationStep(max: number, count: number): number {
  const raw = max / Math.max(1, count);
  return DURATION_STEPS.find((step) => step >= raw) ?? niceStep(max, count);
}

interface Series {
  key: string;
  label: string;
  kind: 'line' | 'bar';
  className: string;
  values: readonly (number | null)[];
  dashed?: boolean;
}

// A value with no neighbour draws no line segment, so it must keep its dot to be seen.
function isolated(values: readonly (number | null | undefined)[], i: number): boolean {
  return values[i - 1] == null && values[i + 1] == null;
}

const PAD = { top: 14, right: 12, bottom: 30 };

function TimeSeriesChart({
  dates,
  series,
  granularity,
  timeZone,
  yFormat,
  yStep,
  reference,
  summary,
  caption,
  legend,
  testId,
}: {
  dates: readonly string[];
  series: readonly Series[];
  granularity: Granularity;
  timeZone: string;
  yFormat: (value: number) => string;
  yStep: (max: number, count: number) => number;
  reference?: { value: number; label: string };
  summary: string;
  caption: (index: number) => ReactNode;
  legend: ReactNode;
  testId: string;
}) {
  const titleId = useId();
  const [ref, width] = useWidth<HTMLDivElement>();
  const [hover, setHover] = useState<number | null>(null);
  const narrow = width < 520;
  const height = narrow ? 200 : 240;
  const left = narrow ? 44 : 52;
  const innerWidth = Math.max(10, width - left - PAD.right);
  const innerHeight = height - PAD.top - PAD.bottom;
  const n = dates.length;
  // Stacked bars: the bar series add up per bucket.
  const bars = series.filter((s) => s.kind === 'bar');
  const lines = series.filter((s) => s.kind === 'line');
  const stackTotals = dates.map((_, i) => bars.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const lineMax = Math.max(0, ...lines.flatMap((s) => s.values.filter((v): v is number => v != null)));
  const rawMax = Math.max(lineMax, ...stackTotals, reference?.value ?? 0, 1);
  const ticks = narrow ? 3 : 4;
  const step = yStep(rawMax, ticks);
  const yMax = Math.ceil(rawMax / step) * step;
  const slot = innerWidth / Math.max(n, 1);
  const x = (i: number) => left + slot * (i + 0.5);
  const y = (value: number) => PAD.top + (1 - value / yMax) * innerHeight;
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(innerWidth / (narrow ? 62 : 74)))));
  const barWidth = Math.max(1.5, Math.min(28, slot * 0.66));
  const tickValues: number[] = [];
  for (let v = 0; v <= yMax + step / 2; v += step) tickValues.push(v);

  const paths = lines.map((s) => {
    const parts: string[] = [];
    let current = '';
    s.values.forEach((value, i) => {
      if (value == null) {
        if (current) parts.push(current);
        current = '';
        return;
      }
      current += `${current ? 'L' : 'M'}${x(i).toFixed(1)},${y(value).toFixed(1)}`;
    });
    if (current) parts.push(current);
    return { series: s, parts };
  });

  return (
    <figure className="chart time-chart" data-testid={testId}>
      <div ref={ref} className="chart-canvas">
        <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby={titleId} onMouseLeave={() => setHover(null)}>
          <title id={titleId}>{summary}</title>
          {tickValues.map((tick) => (
            <g key={tick} className="grid">
              <line x1={left} x2={width - PAD.right} y1={y(tick)} y2={y(tick)} />
              <text x={left - 6} y={y(tick) + 4} textAnchor="end">
                {yFormat(tick)}
              </text>
            </g>
          ))}
          {reference ? (
            <g className="reference">
              <line x1={left} x2={width - PAD.right} y1={y(reference.value)} y2={y(reference.value)} />
              <text x={width - PAD.right - 4} y={y(reference.value) - 5} textAnchor="end">
                {reference.label}
              </text>
            </g>
          ) : null}
          {dates.map((date, i) => {
            let base = 0;
            return bars.map((s) => {
              const value = s.values[i] ?? 0;
              const top = base + value;
              const rect = value ? (
                <rect
                  key={`${s.key}-${date}`}
                  className={`bar ${s.className}`}
                  x={x(i) - barWidth / 2}
                  y={y(top)}
                  width={barWidth}
                  height={Math.max(1, y(base) - y(top))}
                />
              ) : null;
              base = top;
              return rect;
            });
          })}
          {paths.map(({ series: s, parts }) =>
            parts.map((d, i) => <path key={`${s.key}-${i}`} className={`line ${s.className}${s.dashed ? ' dashed' : ''}`} d={d} />),
          )}
          {lines.map((s) =>
            s.values.map((value, i) =>
              value == null ? null : (
                <circle
                  key={`${s.key}-pt-${i}`}
                  className={`point ${s.className}`}
                  cx={x(i)}
                  cy={y(value)}
                  r={hover === i ? 4.5 : n > 45 && !isolated(s.values, i) ? 0 : 2.5}
                />
              ),
            ),
          )}
          {dates.map((date, i) =>
            i % labelEvery === 0 ? (
              <text key={`lbl-${date}`} className="axis-label" x={x(i)} y={height - 9} textAnchor="middle">
                {bucketLabel(date, granularity, timeZone)}
              </text>
            ) : null,
          )}
          {dates.map((date, i) => (
            <rect
              key={`hit-${date}`}
              className="hit"
              x={left + slot * i}
              y={PAD.top}
              width={slot}
              height={innerHeight}
              onMouseEnter={() => setHover(i)}
              onClick={() => setHover(i)}
            />
          ))}
          {hover != null ? <line className="hover-line" x1={x(hover)} x2={x(hover)} y1={PAD.top} y2={PAD.top + innerHeight} /> : null}
        </svg>
      </div>
      <figcaption className="chart-caption" aria-live="polite">
        {hover != null && dates[hover] ? (
          <>
            <strong>{bucketLabel(dates[hover]!, granularity, timeZone, true)}</strong>: {caption(hover)}
          </>
        ) : (
          <span className="legend">{legend}</span>
        )}
      </figcaption>
    </figure>
  );
}

export function ReplyTimeChart({
  trend,
  granularity,
  timeZone,
  slaSeconds,
}: {
  trend: readonly ReplyTimePoint[];
  granularity: Granularity;
  timeZone: string;
  slaSeconds: number;
}) {
  const answered = trend.reduce((sum, p) => sum + p.count, 0);
  const medians = trend.map((p) => p.median_seconds).filter((v): v is number => v != null);
  const summary = answered
    ? `Reply time per bucket: median from ${formatDuration(Math.min(...medians))} to ${formatDuration(Math.max(...medians))}, ${plural(answered, 'reply', 'replies')} in ${plural(trend.length, 'bucket')}.`
    : 'No fan message was answered in this window.';
  return (
    <TimeSeriesChart
      testId="reply-time-chart"
      dates={trend.map((p) => p.date)}
      series={[
        { key: 'p90', label: '90th percentile', kind: 'line', className: 'series-p90', values: trend.map((p) => p.p90_seconds), dashed: true },
        { key: 'median', label: 'Median', kind: 'line', className: 'series-median', values: trend.map((p) => p.median_seconds) },
      ]}
      granularity={granularity}
      timeZone={timeZone}
      yFormat={(v) => formatDuration(v)}
      yStep={durationStep}
      reference={{ value: slaSeconds, label: `SLA ${formatDuration(slaSeconds)}` }}
      summary={summary}
      caption={(i) => {
        const p = trend[i]!;
        return p.count ? (
          <>
            median {formatDuration(p.median_seconds)} · p90 {formatDuration(p.p90_seconds)} ·{' '}
            {formatPercent(p.within_sla_percentage, 0)} within SLA · {plural(p.count, 'reply', 'replies')}
          </>
        ) : (
          <>no replies</>
        );
      }}
      legend={
        <>
          <span className="legend-swatch series-median" aria-hidden="true" /> Median
          <span className="legend-swatch series-p90 dashed" aria-hidden="true" /> 90th percentile
          <span className="legend-swatch reference" aria-hidden="true" /> SLA · by the fan’s first message
        </>
      }
    />
  );
}

export function VolumeChart({
  trend,
  granularity,
  timeZone,
}: {
  trend: readonly VolumePoint[];
  granularity: Granularity;
  timeZone: string;
}) {
  const inbound = trend.reduce((sum, p) => sum + p.inbound_messages, 0);
  const outbound = trend.reduce((sum, p) => sum + p.outbound_messages, 0);
  return (
    <TimeSeriesChart
      testId="volume-chart"
      dates={trend.map((p) => p.date)}
      series={[
        { key: 'in', label: 'From fans', kind: 'bar', className: 'series-inbound', values: trend.map((p) => p.inbound_messages) },
        { key: 'out', label: 'From the creator', kind: 'bar', className: 'series-outbound', values: trend.map((p) => p.outbound_messages) },
      ]}
      granularity={granularity}
      timeZone={timeZone}
      yFormat={(v) => formatNumber(v)}
      yStep={niceStep}
      summary={`Messages per bucket: ${plural(inbound, 'message')} from fans and ${formatNumber(outbound)} from the creator in ${plural(trend.length, 'bucket')}.`}
      caption={(i) => {
        const p = trend[i]!;
        return (
          <>
            {plural(p.inbound_messages, 'message')} from fans · {formatNumber(p.outbound_messages)} from the creator
            {p.messages > p.inbound_messages + p.outbound_messages
              ? ` · ${formatNumber(p.messages - p.inbound_messages - p.outbound_messages)} of unknown direction`
              : ''}
          </>
        );
      }}
      legend={
        <>
          <span className="legend-swatch series-inbound" aria-hidden="true" /> From fans
          <span className="legend-swatch series-outbound" aria-hidden="true" /> From the creator
        </>
      }
    />
  );
}

/** Tips and PPV sales per bucket, stacked (a sale counts when its offer was sent). */
export function RevenueChart({
  trend,
  granularity,
  timeZone,
}: {
  trend: readonly RevenuePoint[];
  granularity: Granularity;
  timeZone: string;
}) {
  const tips = trend.reduce((sum, p) => sum + p.tips_amount, 0);
  const ppv = trend.reduce((sum, p) => sum + p.ppv_revenue, 0);
  return (
    <TimeSeriesChart
      testId="revenue-chart"
      dates={trend.map((p) => p.date)}
      series={[
        { key: 'ppv', label: 'PPV', kind: 'bar', className: 'series-ppv', values: trend.map((p) => p.ppv_revenue) },
        { key: 'tips', label: 'Tips', kind: 'bar', className: 'series-tips', values: trend.map((p) => p.tips_amount) },
      ]}
      granularity={granularity}
      timeZone={timeZone}
      yFormat={(v) => formatMoney(v, { compact: true })}
      yStep={niceStep}
      summary={`Gross revenue per bucket: ${formatMoney(ppv)} from pay-per-view and ${formatMoney(tips)} in tips over ${plural(trend.length, 'bucket')}.`}
      caption={(i) => {
        const p = trend[i]!;
        return (
          <>
            {formatMoney(p.gross)} gross · PPV {formatMoney(p.ppv_revenue)} ({formatNumber(p.ppv_purchased)} of{' '}
            {plural(p.ppv_offered, 'offer')} unlocked) · tips {formatMoney(p.tips_amount)}
          </>
        );
      }}
      legend={
        <>
          <span className="legend-swatch series-ppv" aria-hidden="true" /> PPV (by offer time)
          <span className="legend-swatch series-tips" aria-hidden="true" /> Tips
        </>
      }
    />
  );
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

export function ActivityHeatmapChart({ heatmap }: { heatmap: ActivityHeatmap }) {
  const [active, setActive] = useState<{ weekday: number; hour: number } | null>(null);
  const grid: number[][] = WEEKDAYS.map(() => Array.from({ length: 24 }, () => 0));
  for (const cell of heatmap.cells) {
    if (cell.weekday >= 0 && cell.weekday < 7 && cell.hour >= 0 && cell.hour < 24) grid[cell.weekday]![cell.hour] = cell.inbound_messages;
  }
  const max = Math.max(0, ...grid.flat());
  const total = grid.flat().reduce((a, b) => a + b, 0);
  let peak = { weekday: 0, hour: 0, value: -1 };
  grid.forEach((row, weekday) => row.forEach((value, hour) => {
    if (value > peak.value) peak = { weekday, hour, value };
  }));
  const hourLabel = (hour: number) => `${String(hour).padStart(2, '0')}:00`;
  const shown = active ? grid[active.weekday]![active.hour]! : null;
  return (
    <figure className="chart heatmap" data-testid="activity-heatmap">
      <div
        className="heatmap-grid"
        role="table"
        aria-label={`Fan messages by weekday and hour, ${heatmap.timezone}${total ? `; busiest ${WEEKDAYS[peak.weekday]} ${hourLabel(peak.hour)}` : ''}`}
        onMouseLeave={() => setActive(null)}
      >
        <div role="row" className="heatmap-row heatmap-hours">
          <span role="columnheader" className="heatmap-corner" />
          {Array.from({ length: 24 }, (_, hour) => (
            <span key={hour} role="columnheader" className="heatmap-hour" aria-label={hourLabel(hour)}>
              {hour % 3 === 0 ? hour : ''}
            </span>
          ))}
        </div>
        {grid.map((row, weekday) => (
          <div role="row" className="heatmap-row" key={WEEKDAYS[weekday]}>
            <span role="rowheader" className="heatmap-day">
              {WEEKDAYS[weekday]}
            </span>
            {row.map((value, hour) => (
              <span
                key={hour}
                role="cell"
                className={`heatmap-cell${value ? '' : ' empty'}${active?.weekday === weekday && active.hour === hour ? ' active' : ''}`}
                style={{ ['--level' as string]: max ? (0.12 + 0.88 * (value / max)).toFixed(3) : '0' }}
                title={`${WEEKDAYS[weekday]} ${hourLabel(hour)}: ${plural(value, 'fan message')}`}
                aria-label={`${WEEKDAYS[weekday]} ${hourLabel(hour)}: ${plural(value, 'fan message')}`}
                onMouseEnter={() => setActive({ weekday, hour })}
                onClick={() => setActive({ weekday, hour })}
              />
            ))}
          </div>
        ))}
      </div>
      <figcaption className="chart-caption" aria-live="polite">
        {active && shown != null ? (
          <>
            <strong>
              {WEEKDAYS[active.weekday]} {hourLabel(active.hour)}–{hourLabel((active.hour + 1) % 24)}
            </strong>
            : {plural(shown, 'fan message')}
          </>
        ) : total ? (
          <span className="legend">
            Fan messages by local hour ({heatmap.timezone}); busiest: {WEEKDAYS[peak.weekday]} {hourLabel(peak.hour)} (
            {plural(peak.value, 'message')})
          </span>
        ) : (
          <span className="legend">No fan messages in this window.</span>
        )}
      </figcaption>
    </figure>
  );
}
