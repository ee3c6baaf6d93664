// The Revenue view (METRICS.md "Revenue"): gross and net against the previous window, tips
// and PPV over time, unlock rate, average purchase and paying fans; filtered by chatter.
import { useMemo } from 'react';
import type { Api } from '../api/client';
import { fetchRevenue, type RevenueResponse, type RevenueValues } from '../api/money';
import { formatNumber, formatPercent, parseTime, plural } from '../lib/format';
import { csvName, formatMoney, saveCsv, toCsv } from '../lib/money';
import { resolveRange, timeZones, type Granularity } from '../lib/range';
import { Icon } from './common';
import { ChatterFilter, CsvButton, LoadedSlot, UpdatedNote, useChatterOptions, useRemote } from './MoneyParts';
import { RangeToolbar, useRangeSelection } from './RangeToolbar';
import { Delta, reasonFor, StatCard, Value } from './Stats';
import { RevenueChart } from './TimeCharts';

const money = (value: number) => formatMoney(value);

export function describeWindow(window: { start: string; end: string }): string {
  const s = parseTime(window.start);
  const e = parseTime(window.end);
  if (s === null || e === null) return '';
  const fmt = (ms: number) => new Date(ms).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
  return `${fmt(s)} – ${fmt(e - 1)}`;
}

function RevenueCards({ data }: { data: RevenueResponse }) {
  const { current: c, previous: p } = data;
  const reasons = c.unavailable_reasons;
  const pct = (v: number) => formatPercent(v);
  return (
    <section className="card-grid money-cards" aria-label="Revenue">
      <StatCard
        label="Gross revenue"
        value={formatMoney(c.gross)}
        rawValue={c.gross}
        testId="revenue-gross"
        info="Tip amounts plus unlocked pay-per-view offers; a sale counts when its offer was sent."
      >
        <Delta current={c.gross} previous={p.gross} label="gross" format={money} />
      </StatCard>
      <StatCard
        label="Net revenue"
        value={formatMoney(c.net)}
        rawValue={c.net}
        testId="revenue-net"
        info="Gross after the platform's fee (OFCA_PLATFORM_FEE_PERCENT, 20% by default)."
      >
        <Delta current={c.net} previous={p.net} label="net" format={money} />
      </StatCard>
      <StatCard
        label="Unlock rate"
        value={formatPercent(c.unlock_rate)}
        rawValue={c.unlock_rate}
        reason={reasonFor(reasons, 'unlock_rate')}
        testId="revenue-unlock-rate"
        hint={`${formatNumber(c.ppv_purchased)} of ${plural(c.ppv_offered, 'PPV offer')} unlocked`}
        info="Unlocked PPV offers / PPV offers sent in the window."
      >
        <Delta current={c.unlock_rate} previous={p.unlock_rate} label="unlock rate" format={pct} points />
      </StatCard>
      <StatCard
        label="Average purchase"
        value={formatMoney(c.average_purchase)}
        rawValue={c.average_purchase}
        reason={reasonFor(reasons, 'average_purchase')}
        testId="revenue-average-purchase"
        info="Mean price of the unlocked PPV offers."
      >
        <Delta current={c.average_purchase} previous={p.average_purchase} label="average purchase" format={money} />
      </StatCard>
      <StatCard
        label="Paying fans"
        value={formatNumber(c.paying_fans)}
        rawValue={c.paying_fans}
        testId="revenue-paying-fans"
        info="Chats with revenue in the window (a tip without an amount does not count)."
        hint={
          c.revenue_per_paying_fan != null ? `${formatMoney(c.revenue_per_paying_fan)} per paying fan` : undefined
        }
      >
        <Delta current={c.paying_fans} previous={p.paying_fans} label="paying fans" />
      </StatCard>
      <StatCard
        label="Tips"
        value={formatMoney(c.tips_amount)}
        rawValue={c.tips_amount}
        testId="revenue-tips"
        hint={`${plural(c.tips, 'tip')}${c.tips_without_amount ? `, ${formatNumber(c.tips_without_amount)} without an amount` : ''}`}
      >
        <Delta current={c.tips_amount} previous={p.tips_amount} label="tips" format={money} />
      </StatCard>
      <StatCard
        label="PPV revenue"
        value={formatMoney(c.ppv_revenue)}
        rawValue={c.ppv_revenue}
        testId="revenue-ppv"
      >
        <Delta current={c.ppv_revenue} previous={p.ppv_revenue} label="PPV revenue" format={money} />
      </StatCard>
      <StatCard
        label="Revenue / session"
        value={formatMoney(c.revenue_per_session)}
        rawValue={c.revenue_per_session}
        reason={reasonFor(reasons, 'revenue_per_session')}
        testId="revenue-per-session"
        info="Gross / sessions started in the window (with a chatter chosen: the sessions they wrote in)."
      >
        <Delta current={c.revenue_per_session} previous={p.revenue_per_session} label="revenue per session" format={money} />
      </StatCard>
    </section>
  );
}

const COMPARE_ROWS: { key: keyof RevenueValues; label: string; kind: 'money' | 'count' | 'percent' }[] = [
  { key: 'gross', label: 'Gross', kind: 'money' },
  { key: 'net', label: 'Net', kind: 'money' },
  { key: 'tips_amount', label: 'Tips', kind: 'money' },
  { key: 'tips', label: 'Tips (count)', kind: 'count' },
  { key: 'tips_without_amount', label: 'Tips without an amount', kind: 'count' },
  { key: 'ppv_revenue', label: 'PPV revenue', kind: 'money' },
  { key: 'ppv_offered', label: 'PPV offered', kind: 'count' },
  { key: 'ppv_purchased', label: 'PPV unlocked', kind: 'count' },
  { key: 'unlock_rate', label: 'Unlock rate', kind: 'percent' },
  { key: 'average_purchase', label: 'Average purchase', kind: 'money' },
  { key: 'paying_fans', label: 'Paying fans', kind: 'count' },
  { key: 'revenue_per_paying_fan', label: 'Revenue / paying fan', kind: 'money' },
  { key: 'revenue_per_session', label: 'Revenue / session', kind: 'money' },
];

function formatKind(value: number | null, kind: 'money' | 'count' | 'percent'): string {
  if (kind === 'money') return formatMoney(value);
  if (kind === 'percent') return formatPercent(value);
  return formatNumber(value);
}

export function revenueCsv(data: RevenueResponse): string {
  return toCsv(
    ['date', 'gross', 'tips_amount', 'ppv_revenue', 'ppv_offered', 'ppv_purchased'],
    data.trend.map((p) => [p.date, p.gross, p.tips_amount, p.ppv_revenue, p.ppv_offered, p.ppv_purchased]),
  );
}

export function Revenue({
  api,
  token,
  accountId,
  liveUpdateAt,
  chatter,
  onChatter,
}: {
  api: Api;
  token: string;
  accountId: string;
  liveUpdateAt: number | null;
  chatter: string | null;
  onChatter: (chatter: string | null) => void;
}) {
  const [selection, setSelection] = useRangeSelection();
  const zones = useMemo(timeZones, []);
  const range = resolveRange(selection);
  const key = `${accountId}|${JSON.stringify(selection)}|${chatter ?? ''}`;
  const state = useRemote(key, (signal) => fetchRevenue(api, token, { accountId, range, chatter }, signal), liveUpdateAt);
  const chatters = useChatterOptions(api, token, accountId, range);
  const chatterLabel = chatters?.find((o) => o.chatter === chatter)?.label ?? chatter;

  return (
    <div className="insights money-view" data-testid="revenue-view">
      <div className="insights-head">
        <RangeToolbar selection={selection} onChange={setSelection} zones={zones}>
          <ChatterFilter options={chatters} value={chatter} onChange={onChatter} />
        </RangeToolbar>
        <UpdatedNote state={state} />
      </div>
      {chatter ? (
        <div className="filter-bar">
          <span className="chip topic filter-chip">
            <Icon name="filter" size={13} />
            Chatter: {chatterLabel}
            <button type="button" className="chip-close" onClick={() => onChatter(null)} aria-label={`Show revenue of every chatter, not only ${chatterLabel}`}>
              <Icon name="close" size={12} />
            </button>
          </span>
          <span className="muted">Their offers and the tips credited to them.</span>
        </div>
      ) : null}
      <LoadedSlot state={state} what="revenue insights">
        {(data) => {
          const granularity = (data.granularity as Granularity | undefined) ?? range.granularity;
          const timeZone = data.timezone ?? range.timezone;
          return (
            <>
              <p className="window-note muted">
                {describeWindow(data.window)} · compared with {describeWindow(data.previous_window)}
              </p>
              <RevenueCards data={data} />
              <section className="panel" aria-labelledby="revenue-trend-title">
                <div className="panel-head">
                  <h2 id="revenue-trend-title">Tips and PPV over time</h2>
                  <span className="panel-actions">
                    <span className="muted">
                      per {granularity} · {timeZone}
                    </span>
                    <CsvButton testId="revenue-csv" onClick={() => saveCsv(revenueCsv(data), csvName('revenue', data.window.start, data.window.end))} />
                  </span>
                </div>
                <RevenueChart trend={data.trend} granularity={granularity} timeZone={timeZone} />
              </section>
              <section className="panel" aria-labelledby="revenue-compare-title">
                <div className="panel-head">
                  <h2 id="revenue-compare-title">This window and the previous one</h2>
                </div>
                <div className="table-wrap">
                  <table className="topics-table money-table compare-table" data-testid="revenue-compare">
                    <thead>
                      <tr>
                        <th scope="col">Metric</th>
                        <th scope="col" className="num">This window</th>
                        <th scope="col" className="num">Previous</th>
                        <th scope="col" className="num">Change</th>
                      </tr>
                    </thead>
                    <tbody>
                      {COMPARE_ROWS.map(({ key: field, label, kind }) => {
                        const now = data.current[field] as number | null;
                        const before = data.previous[field] as number | null;
                        return (
                          <tr key={field} data-field={field}>
                            <th scope="row">{label}</th>
                            <td className="num" data-label="This window" data-value={now ?? ''}>
                              <Value text={formatKind(now, kind)} reason={reasonFor(data.current.unavailable_reasons, field)} />
                            </td>
                            <td className="num" data-label="Previous">
                              <Value text={formatKind(before, kind)} reason={reasonFor(data.previous.unavailable_reasons, field)} />
                            </td>
                            <td className="num" data-label="Change">
                              <Delta current={now} previous={before} label={label.toLowerCase()} format={(v) => formatKind(v, kind)} points={kind === 'percent'} />
                            </td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                </div>
              </section>
            </>
          );
        }}
      </LoadedSlot>
    </div>
  );
}
