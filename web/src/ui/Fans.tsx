// The Fans view (METRICS.md "Fans"): whales and spenders by lifetime spend, when they last
// paid, who is waiting for an answer right now with what they have spent, and "spend
// waiting": the lifetime spend of every fan waiting longer than the reply SLA.
import { useMemo, useState } from 'react';
import type { Api } from '../api/client';
import { fetchFans, type FanRow, type FansResponse, type Tier } from '../api/money';
import { DASH, formatDuration, formatNumber, formatWhen, plural } from '../lib/format';
import { csvName, formatMoney, saveCsv, TIER_HINTS, toCsv } from '../lib/money';
import { resolveRange, timeZones } from '../lib/range';
import { Icon, TierChip } from './common';
import { CsvButton, LoadedSlot, UpdatedNote, useRemote } from './MoneyParts';
import { RangeToolbar, useRangeSelection } from './RangeToolbar';
import { describeWindow } from './Revenue';
import { StatCard, Value } from './Stats';

/** Rows asked for: enough for an agency's paying fans; the headline sums cover every chat. */
export const FANS_LIMIT = 200;
/** Rows shown before "Show all" (the CSV always holds every row). */
export const WAITING_SHOWN = 8;
export const FANS_SHOWN = 25;

function ShowAll({ shown, total, onShow, what }: { shown: number; total: number; onShow: () => void; what: string }) {
  if (shown >= total) return null;
  return (
    <button type="button" className="ghost small show-all" onClick={onShow}>
      Show all {formatNumber(total)} {what}
    </button>
  );
}

const TIER_PLURALS: Record<Tier, string> = { whale: 'Whales', spender: 'Spenders', free: 'Free fans' };

const TIERS: { value: Tier | null; label: string }[] = [
  { value: null, label: 'All' },
  { value: 'whale', label: 'Whales' },
  { value: 'spender', label: 'Spenders' },
  { value: 'free', label: 'Free' },
];

export function fanLabel(row: FanRow): string {
  return row.fan.name || (row.fan.username ? `@${row.fan.username}` : `Fan ${row.chat_id}`);
}

function waitTone(seconds: number, slaSeconds: number): 'ok' | 'late' | 'critical' {
  if (seconds > slaSeconds * 6) return 'critical';
  if (seconds > slaSeconds) return 'late';
  return 'ok';
}

function WaitCell({ seconds, slaSeconds }: { seconds: number | null; slaSeconds: number }) {
  if (seconds == null) return <Value text={DASH} reason="Not waiting: the last message of the chat is the creator's." />;
  return (
    <span className={`wait-badge wait-${waitTone(seconds, slaSeconds)}`} title={`Waiting for an answer for ${formatDuration(seconds)}`}>
      <Icon name="clock" size={13} />
      <span>{formatDuration(seconds)}</span>
    </span>
  );
}

export function fansCsv(data: FansResponse): string {
  return toCsv(
    ['chat_id', 'name', 'username', 'tier', 'lifetime_spend', 'window_spend', 'tips_amount', 'ppv_revenue', 'last_paid_at', 'waiting_seconds'],
    data.fans.map((r) => [
      r.chat_id,
      r.fan.name ?? null,
      r.fan.username ?? null,
      r.tier,
      r.lifetime_spend,
      r.window_spend,
      r.tips_amount,
      r.ppv_revenue,
      r.last_paid_at,
      r.waiting_seconds,
    ]),
  );
}

function FanName({ row, onOpenChat }: { row: FanRow; onOpenChat: (chatId: string) => void }) {
  return (
    <button type="button" className="link-button fan-link" onClick={() => onOpenChat(row.chat_id)} title="Open this chat in the inbox">
      {fanLabel(row)}
    </button>
  );
}

function WaitingList({ rows, slaSeconds, onOpenChat }: { rows: FanRow[]; slaSeconds: number; onOpenChat: (chatId: string) => void }) {
  const [all, setAll] = useState(false);
  if (!rows.length) return <p className="muted table-empty">Nobody is waiting for an answer among these fans.</p>;
  const shown = all ? rows : rows.slice(0, WAITING_SHOWN);
  return (
    <>
    <ul className="waiting-fans" data-testid="fans-waiting-list">
      {shown.map((row) => (
        <li key={row.chat_id} data-chat-id={row.chat_id} className={(row.waiting_seconds ?? 0) > slaSeconds ? 'past-sla' : ''}>
          <span className="waiting-fan-name">
            <FanName row={row} onOpenChat={onOpenChat} />
            <TierChip tier={row.tier} />
          </span>
          <span className="waiting-fan-spend" data-value={row.lifetime_spend}>
            {formatMoney(row.lifetime_spend)}
          </span>
          <WaitCell seconds={row.waiting_seconds} slaSeconds={slaSeconds} />
        </li>
      ))}
    </ul>
    <ShowAll shown={shown.length} total={rows.length} onShow={() => setAll(true)} what="waiting fans" />
    </>
  );
}

function FansTable({ rows, slaSeconds, onOpenChat, now }: { rows: FanRow[]; slaSeconds: number; onOpenChat: (chatId: string) => void; now: number }) {
  const [all, setAll] = useState(false);
  if (!rows.length) return <p className="muted table-empty">No fans in this tier.</p>;
  const shown = all ? rows : rows.slice(0, FANS_SHOWN);
  return (
    <>
    <div className="table-wrap">
      <table className="topics-table money-table" data-testid="fans-table">
        <caption className="visually-hidden">Fans by lifetime spend; choose a fan to open the chat</caption>
        <thead>
          <tr>
            <th scope="col">Fan</th>
            <th scope="col">Tier</th>
            <th scope="col" className="num">Lifetime</th>
            <th scope="col" className="num" title="Revenue in the chosen window">In window</th>
            <th scope="col" className="num">Tips</th>
            <th scope="col" className="num">PPV</th>
            <th scope="col" className="num">Last paid</th>
            <th scope="col" className="num">Waiting</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((row) => (
            <tr key={row.chat_id} data-chat-id={row.chat_id} data-tier={row.tier}>
              <th scope="row">
                <FanName row={row} onOpenChat={onOpenChat} />
              </th>
              <td data-label="Tier">
                <TierChip tier={row.tier} />
              </td>
              <td className="num" data-label="Lifetime" data-value={row.lifetime_spend}>
                {formatMoney(row.lifetime_spend)}
              </td>
              <td className="num" data-label="In window">
                {formatMoney(row.window_spend)}
              </td>
              <td className="num" data-label="Tips">
                {formatMoney(row.tips_amount)}
              </td>
              <td className="num" data-label="PPV">
                {formatMoney(row.ppv_revenue)}
              </td>
              <td className="num" data-label="Last paid">
                {row.last_paid_at ? (
                  <time dateTime={row.last_paid_at} title={new Date(row.last_paid_at).toLocaleString()}>
                    {formatWhen(row.last_paid_at, now)}
                  </time>
                ) : (
                  <Value text={DASH} reason="Never paid (a tip without an amount does not count)." />
                )}
              </td>
              <td className="num" data-label="Waiting">
                <WaitCell seconds={row.waiting_seconds} slaSeconds={slaSeconds} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
    <ShowAll shown={shown.length} total={rows.length} onShow={() => setAll(true)} what="fans" />
    </>
  );
}

export function Fans({
  api,
  token,
  accountId,
  liveUpdateAt,
  slaSeconds,
  onOpenChat,
}: {
  api: Api;
  token: string;
  accountId: string;
  liveUpdateAt: number | null;
  slaSeconds: number;
  onOpenChat: (chatId: string) => void;
}) {
  const [selection, setSelection] = useRangeSelection();
  const [tier, setTier] = useState<Tier | null>(null);
  const zones = useMemo(timeZones, []);
  const range = resolveRange(selection);
  const key = `${accountId}|${range.start}|${range.end}|${tier ?? ''}`;
  const state = useRemote(
    key,
    (signal) => fetchFans(api, token, { accountId, range, tier, limit: FANS_LIMIT }, signal),
    liveUpdateAt,
  );

  return (
    <div className="insights money-view" data-testid="fans-view">
      <div className="insights-head">
        <RangeToolbar selection={selection} onChange={setSelection} zones={zones} buckets={false}>
          <div className="segmented" role="radiogroup" aria-label="Tier">
            {TIERS.map((option) => (
              <button
                key={option.label}
                type="button"
                role="radio"
                aria-checked={tier === option.value}
                className={tier === option.value ? 'active' : ''}
                onClick={() => setTier(option.value)}
                title={option.value ? TIER_HINTS[option.value] : 'Every fan'}
              >
                {option.label}
              </button>
            ))}
          </div>
        </RangeToolbar>
        <UpdatedNote state={state} />
      </div>
      <LoadedSlot state={state} what="fan spend list">
        {(data) => {
          const asOf = Date.parse(data.as_of) || Date.now();
          const waiting = data.fans.filter((row) => row.waiting_seconds != null);
          const whales = data.fans.filter((row) => row.tier === 'whale').length;
          const capped = data.fans.length >= FANS_LIMIT;
          return (
            <>
              <p className="window-note muted">
                {describeWindow(data.window)} · as of {new Date(asOf).toLocaleString()}
              </p>
              <section className="card-grid money-cards fans-cards" aria-label="Fans waiting">
                <StatCard
                  label="Spend waiting"
                  value={formatMoney(data.spend_waiting)}
                  rawValue={data.spend_waiting}
                  testId="fans-spend-waiting"
                  info={`The lifetime spend of every fan waiting for an answer longer than the reply SLA (${formatDuration(slaSeconds)}).`}
                  hint={`${plural(data.fans_waiting, 'fan')} waiting past the SLA`}
                />
                <StatCard
                  label="Fans waiting past the SLA"
                  value={formatNumber(data.fans_waiting)}
                  rawValue={data.fans_waiting}
                  testId="fans-waiting"
                  info="Counted over every chat of the chosen tier, not only the rows listed."
                />
                <StatCard
                  label={`${TIER_PLURALS[tier ?? 'whale']} listed`}
                  value={formatNumber(tier ? data.fans.length : whales)}
                  testId="fans-whales"
                  hint={capped ? `of the ${formatNumber(FANS_LIMIT)} biggest spenders` : plural(data.fans.length, 'fan') + ' listed'}
                  info={TIER_HINTS[tier ?? 'whale']}
                />
              </section>
              <section className="panel" aria-labelledby="fans-waiting-title">
                <div className="panel-head">
                  <h2 id="fans-waiting-title">Waiting now</h2>
                  <span className="muted">fans without an answer, the biggest spenders first</span>
                </div>
                <WaitingList rows={waiting} slaSeconds={slaSeconds} onOpenChat={onOpenChat} />
              </section>
              <section className="panel" aria-labelledby="fans-table-title">
                <div className="panel-head">
                  <h2 id="fans-table-title">Fans by lifetime spend</h2>
                  <span className="panel-actions">
                    <span className="muted">{capped ? `the ${formatNumber(FANS_LIMIT)} biggest` : plural(data.fans.length, 'fan')}</span>
                    <CsvButton testId="fans-csv" onClick={() => saveCsv(fansCsv(data), csvName('fans', data.window.start, data.window.end))} />
                  </span>
                </div>
                <FansTable rows={data.fans} slaSeconds={slaSeconds} onOpenChat={onOpenChat} now={asOf} />
              </section>
            </>
          );
        }}
      </LoadedSlot>
    </div>
  );
}
