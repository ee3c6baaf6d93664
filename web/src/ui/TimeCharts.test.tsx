import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { ActivityHeatmap, ReplyTimePoint, VolumePoint } from '../api/trends';
import { ActivityHeatmapChart, ReplyTimeChart, VolumeChart } from './TimeCharts';

const DAYS = ['2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z', '2026-12-03T00:00:00Z'];

describe('charts over time', () => {
  it('draws median and p90 lines, with a gap for a bucket without replies, and the SLA', () => {
    const trend: ReplyTimePoint[] = [
      { date: DAYS[0]!, count: 3, median_seconds: 120, p90_seconds: 600, within_sla_percentage: 66.666666667 },
      { date: DAYS[1]!, count: 0, median_seconds: null, p90_seconds: null, within_sla_percentage: null },
      { date: DAYS[2]!, count: 1, median_seconds: 60, p90_seconds: 60, within_sla_percentage: 100 },
    ];
    const html = renderToStaticMarkup(<ReplyTimeChart trend={trend} granularity="day" timeZone="UTC" slaSeconds={300} />);
    // The empty bucket breaks each line in two single-point paths (never drawn as 0).
    expect(html.match(/class="line series-median"/g)).toHaveLength(2);
    expect(html.match(/class="line series-p90 dashed"/g)).toHaveLength(2);
    expect(html).toContain('SLA 5m');
    expect(html).toContain('4 replies in 3 buckets');
  });

  it('keeps the dot of a lone value visible when a long window hides the others', () => {
    const trend: ReplyTimePoint[] = Array.from({ length: 60 }, (_, i) => ({
      date: new Date(Date.UTC(2026, 9, 1 + i)).toISOString(),
      count: i === 30 || i === 40 || i === 41 ? 1 : 0,
      median_seconds: i === 30 || i === 40 || i === 41 ? 90 : null,
      p90_seconds: i === 30 || i === 40 || i === 41 ? 90 : null,
      within_sla_percentage: null,
    }));
    const html = renderToStaticMarkup(<ReplyTimeChart trend={trend} granularity="day" timeZone="UTC" slaSeconds={300} />);
    // Day 30 stands alone (a one-point path draws nothing): its dot keeps a radius; days 40-41 have a line.
    const medianDots = [...html.matchAll(/class="point series-median"[^>]*r="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(medianDots).toEqual([2.5, 0, 0]);
  });

  it('stacks fan and creator messages per bucket', () => {
    const trend: VolumePoint[] = DAYS.map((date, i) => ({
      date,
      messages: i * 3 + 1,
      inbound_messages: i * 2,
      outbound_messages: i + 1,
    }));
    const html = renderToStaticMarkup(<VolumeChart trend={trend} granularity="day" timeZone="UTC" />);
    expect(html.match(/bar series-inbound/g)).toHaveLength(2); // day 0 has no fan messages
    expect(html.match(/bar series-outbound/g)).toHaveLength(3);
    expect(html).toContain('6 messages from fans and 6 from the creator in 3 buckets');
  });

  it('shows 7 x 24 cells in the chosen timezone and names the busiest hour', () => {
    const cells = [];
    for (let weekday = 0; weekday < 7; weekday++)
      for (let hour = 0; hour < 24; hour++) cells.push({ weekday, hour, inbound_messages: weekday === 4 && hour === 21 ? 9 : 1 });
    const heatmap: ActivityHeatmap = { cells, timezone: 'Europe/Berlin', window: { start: DAYS[0]!, end: DAYS[2]! } };
    const html = renderToStaticMarkup(<ActivityHeatmapChart heatmap={heatmap} />);
    expect(html.match(/role="cell"/g)).toHaveLength(168);
    expect(html).toContain('busiest: Fri 21:00 (9 messages)');
    expect(html).toContain('Europe/Berlin');
    expect(html).toContain('Mon 00:00: 1 fan message');
  });
});
