import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { ChattersResponse, FansResponse, RevenuePoint, RevenueResponse } from '../api/money';
import { chattersCsv } from './Chatters';
import { TierChip } from './common';
import { fansCsv } from './Fans';
import { revenueCsv } from './Revenue';
import { Delta, StatCard } from './Stats';
import { RevenueChart } from './TimeCharts';

const WINDOW = { start: '2026-11-04T00:00:00Z', end: '2026-12-04T00:00:00Z' };
const DAYS = ['2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z', '2026-12-03T00:00:00Z'];
const TREND: RevenuePoint[] = [
  { date: DAYS[0]!, gross: 30, tips_amount: 10, ppv_revenue: 20, ppv_offered: 2, ppv_purchased: 1 },
  { date: DAYS[1]!, gross: 0, tips_amount: 0, ppv_revenue: 0, ppv_offered: 1, ppv_purchased: 0 },
  { date: DAYS[2]!, gross: 15.5, tips_amount: 15.5, ppv_revenue: 0, ppv_offered: 0, ppv_purchased: 0 },
];

describe('revenue chart', () => {
  it('stacks PPV and tips per bucket and leaves an empty bucket empty', () => {
    const html = renderToStaticMarkup(<RevenueChart trend={TREND} granularity="day" timeZone="UTC" />);
    expect(html.match(/bar series-ppv/g)).toHaveLength(1);
    expect(html.match(/bar series-tips/g)).toHaveLength(2);
    expect(html).toContain('$20.00 from pay-per-view and $25.50 in tips over 3 buckets');
  });
});

describe('changes against the previous window', () => {
  it('shows a rate in percentage points, a sum relative, and a dash with a reason when unknown', () => {
    expect(renderToStaticMarkup(<Delta current={45} previous={40} label="unlock rate" points />)).toContain('5.0 pts');
    expect(renderToStaticMarkup(<Delta current={45} previous={40} label="gross" />)).toContain('12.5%');
    expect(renderToStaticMarkup(<Delta current={10} previous={0} label="gross" />)).toContain('new vs previous');
    expect(renderToStaticMarkup(<Delta current={0} previous={0} label="gross" />)).toContain('delta-flat');
    const unknown = renderToStaticMarkup(<Delta current={null} previous={3} label="average purchase" />);
    expect(unknown).toContain('No value to compare with');
  });

  it('keeps the raw number for tests and shows a null as a dash with its reason', () => {
    const html = renderToStaticMarkup(
      <StatCard label="Average purchase" value="—" rawValue={null} reason="No pay-per-view offer was unlocked in this window." testId="x" />,
    );
    expect(html).toContain('data-value="null"');
    expect(html).toContain('title="No pay-per-view offer was unlocked in this window."');
    expect(html).not.toContain('$0');
  });
});

describe('tier chips', () => {
  it('names the tier with the lifetime spend; nothing without a tier', () => {
    const html = renderToStaticMarkup(<TierChip tier="whale" spend={480} />);
    expect(html).toContain('Whale');
    expect(html).toContain('$480');
    expect(html).toContain('data-spend="480"');
    expect(renderToStaticMarkup(<TierChip tier={null} spend={5} />)).toBe('');
  });
});

describe('CSV downloads', () => {
  it('revenue: a line per bucket', () => {
    const data = { trend: TREND, window: WINDOW } as RevenueResponse;
    const lines = revenueCsv(data).trim().split('\r\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('2026-12-03T00:00:00Z,15.5,15.5,0,0,0');
  });

  it('fans: never paid and not waiting stay empty, never 0', () => {
    const data: FansResponse = {
      fans: [
        {
          chat_id: '7',
          fan: { name: 'Mia, "M"', username: null },
          lifetime_spend: 0,
          window_spend: 0,
          tips_amount: 0,
          ppv_revenue: 0,
          last_paid_at: null,
          tier: 'free',
          waiting_seconds: null,
        },
      ],
      spend_waiting: 0,
      fans_waiting: 0,
      as_of: WINDOW.end,
      window: WINDOW,
    };
    expect(fansCsv(data).split('\r\n')[1]).toBe('7,"Mia, ""M""",,free,0,0,0,0,,');
  });

  it('chatters: reply times and unlock rate left empty when there are none', () => {
    const data: ChattersResponse = {
      window: WINDOW,
      chatters: [
        {
          chatter: 'unassigned',
          name: null,
          messages_sent: 0,
          fans: 0,
          replies: 0,
          reply_time: { count: 0, mean_seconds: null, median_seconds: null, p90_seconds: null, within_sla_percentage: null },
          ppv_offered: 0,
          ppv_purchased: 0,
          ppv_revenue: 0,
          unlock_rate: null,
          tips_amount: 12,
          revenue: 12,
          revenue_per_message: null,
          unavailable_reasons: { unlock_rate: 'no_ppv_offered', revenue_per_message: 'no_messages_sent' },
        },
      ],
    };
    expect(chattersCsv(data).split('\r\n')[1]).toBe('unassigned,,12,0,12,0,0,,0,0,0,,,,');
  });
});
