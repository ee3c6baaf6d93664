import { useId, useMemo, useState } from 'react';
import type { TrendPoint } from '../generated/wss';
import { dateFormatter, formatSentiment, parseTime, plural } from '../lib/format';
import type { Granularity } from '../lib/range';
import { useWidth } from '../lib/useWidth';

const PAD = { top: 16, right: 12, bottom: 34, left: 36 };

function bucketLabel(date: string, granularity: Granularity, timeZone: string, long = false): string {
  const ms = parseTime(date);
  if (ms === null) return date;
  const options: Intl.DateTimeFormatOptions =
    granularity === 'hour'
      ? { hour: '2-digit', minute: '2-digit', ...(long ? { day: 'numeric', month: 'short' } : {}) }
      : { day: 'numeric', month: 'short', ...(long && granularity === 'week' ? { year: 'numeric' } : {}) };
  return dateFormatter({ ...options, timeZone }).format(ms);
}

/**
 * Mean fan sentiment per bucket (line, 0–100) over message volume (bars). Buckets without
 * messages have no score and break the line instead of being drawn as zero.
 */
export function SentimentChart({
  trend,
  granularity,
  timeZone,
}: {
  trend: readonly TrendPoint[];
  granularity: Granularity;
  timeZone: string;
}) {
  const titleId = useId();
  const [hover, setHover] = useState<number | null>(null);
  // Drawn in the container's pixels so the labels stay readable on a phone.
  const [canvasRef, WIDTH] = useWidth<HTMLDivElement>(1100);
  const HEIGHT = WIDTH < 520 ? 220 : 280;
  const BARS_HEIGHT = WIDTH < 520 ? 32 : 44;
  const innerWidth = WIDTH - PAD.left - PAD.right;
  const chartBottom = HEIGHT - PAD.bottom - BARS_HEIGHT - 8;
  const innerHeight = chartBottom - PAD.top;
  const n = trend.length;
  const x = (i: number) => PAD.left + (n <= 1 ? innerWidth / 2 : (i / (n - 1)) * innerWidth);
  const y = (score: number) => PAD.top + (1 - score) * innerHeight;
  const maxCount = Math.max(1, ...trend.map((p) => p.message_count));

  const segments = useMemo(() => {
    const paths: string[] = [];
    let current = '';
    trend.forEach((point, i) => {
      if (point.sentiment_score == null) {
        if (current) paths.push(current);
        current = '';
        return;
      }
      current += `${current ? 'L' : 'M'}${x(i).toFixed(1)},${y(point.sentiment_score).toFixed(1)}`;
    });
    if (current) paths.push(current);
    return paths;
  }, [trend, WIDTH, HEIGHT]);

  const scored = trend.filter((p) => p.sentiment_score != null);
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(innerWidth / 74))));
  const barWidth = Math.max(2, Math.min(24, (innerWidth / Math.max(n, 1)) * 0.6));
  const summary = scored.length
    ? `Fan sentiment from ${formatSentiment(Math.min(...scored.map((p) => p.sentiment_score!)))} to ${formatSentiment(
        Math.max(...scored.map((p) => p.sentiment_score!)),
      )} out of 100 across ${plural(n, 'bucket')}.`
    : 'No fan messages with text in this window.';
  const active = hover != null ? trend[hover] : null;

  return (
    <figure className="chart">
      <div ref={canvasRef} className="chart-canvas">
      <svg
        width={WIDTH}
        height={HEIGHT}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby={titleId}
        onMouseLeave={() => setHover(null)}
      >
        <title id={titleId}>{summary}</title>
        {[0, 0.25, 0.5, 0.75, 1].map((tick) => (
          <g key={tick} className="grid">
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(tick)} y2={y(tick)} />
            <text x={PAD.left - 8} y={y(tick) + 4} textAnchor="end">
              {Math.round(tick * 100)}
            </text>
          </g>
        ))}
        <line className="neutral-line" x1={PAD.left} x2={WIDTH - PAD.right} y1={y(0.5)} y2={y(0.5)} />
        {trend.map((point, i) => {
          const h = (point.message_count / maxCount) * BARS_HEIGHT;
          return (
            <rect
              key={`bar-${point.date}`}
              className="volume-bar"
              x={x(i) - barWidth / 2}
              y={HEIGHT - PAD.bottom - h}
              width={barWidth}
              height={Math.max(h, point.message_count ? 1 : 0)}
              rx={1.5}
            />
          );
        })}
        {segments.map((d, i) => (
          <path key={i} className="trend-line" d={d} />
        ))}
        {trend.map((point, i) =>
          point.sentiment_score == null ? null : (
            <circle
              key={`pt-${point.date}`}
              className={`trend-point${hover === i ? ' active' : ''}`}
              cx={x(i)}
              cy={y(point.sentiment_score)}
              r={hover === i ? 5 : n > 40 ? 0 : 3}
            />
          ),
        )}
        {trend.map((point, i) =>
          i % labelEvery === 0 ? (
            <text key={`lbl-${point.date}`} className="axis-label" x={x(i)} y={HEIGHT - 10} textAnchor="middle">
              {bucketLabel(point.date, granularity, timeZone)}
            </text>
          ) : null,
        )}
        {trend.map((point, i) => (
          <rect
            key={`hit-${point.date}`}
            className="hit"
            x={x(i) - innerWidth / Math.max(n, 1) / 2}
            y={PAD.top}
            width={innerWidth / Math.max(n, 1)}
            height={HEIGHT - PAD.top - PAD.bottom}
            onMouseEnter={() => setHover(i)}
          />
        ))}
        {active && hover != null ? <line className="hover-line" x1={x(hover)} x2={x(hover)} y1={PAD.top} y2={HEIGHT - PAD.bottom} /> : null}
      </svg>
      </div>
      <figcaption className="chart-caption" aria-live="polite">
        {active ? (
          <>
            <strong>{bucketLabel(active.date, granularity, timeZone, true)}</strong>: sentiment{' '}
            {formatSentiment(active.sentiment_score)} · {plural(active.message_count, 'fan message')}
          </>
        ) : (
          <span className="legend">
            <span className="legend-line" aria-hidden="true" /> Fan sentiment (0 negative, 50 neutral, 100 positive)
            <span className="legend-bar" aria-hidden="true" /> Fan messages with text
          </span>
        )}
      </figcaption>
    </figure>
  );
}
