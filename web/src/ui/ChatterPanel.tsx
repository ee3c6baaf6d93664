// The chatter filter on Insights: the chosen chatter's own numbers for the window (their
// replies against the SLA, messages, offers and revenue). The other Insights panels describe
// the whole account: their endpoints take no chatter (METRICS.md "Chatters").
import type { Api } from '../api/client';
import { fetchChatters, fetchRevenue, type ChatterRow, type Loaded, type RevenueResponse } from '../api/money';
import { formatDuration, formatNumber, formatPercent, plural } from '../lib/format';
import { chatterName, formatMoney } from '../lib/money';
import type { ResolvedRange } from '../lib/range';
import { LoadedSlot, useRemote } from './MoneyParts';
import { explainReason, StatCard } from './Stats';

interface ChatterData {
  row: ChatterRow | null;
  revenue: RevenueResponse | null;
}

async function loadChatter(
  api: Api,
  token: string,
  accountId: string,
  range: ResolvedRange,
  chatter: string,
  signal: AbortSignal,
): Promise<Loaded<ChatterData>> {
  const [rows, revenue] = await Promise.all([
    fetchChatters(api, token, { accountId, range, chatter }, signal),
    fetchRevenue(api, token, { accountId, range, chatter }, signal),
  ]);
  if (!rows.ok) return rows;
  return {
    ok: true,
    data: { row: rows.data.chatters.find((r) => r.chatter === chatter) ?? null, revenue: revenue.ok ? revenue.data : null },
  };
}

export function ChatterPanel({
  api,
  token,
  accountId,
  range,
  chatter,
  liveUpdateAt,
}: {
  api: Api;
  token: string;
  accountId: string;
  range: ResolvedRange;
  chatter: string;
  liveUpdateAt: number | null;
}) {
  const key = `${accountId}|${range.start}|${range.end}|${chatter}`;
  const state = useRemote(key, (signal) => loadChatter(api, token, accountId, range, chatter, signal), liveUpdateAt);
  return (
    <section className="panel" aria-labelledby="chatter-title" data-testid="chatter-panel">
      <LoadedSlot state={state} what="chatter insights">
        {({ row, revenue }) => {
          const name = chatterName(chatter, row?.name);
          const reasons = row?.unavailable_reasons;
          const replyReason = explainReason(reasons?.reply_time ?? reasons?.['reply_time.median_seconds'] ?? 'no_replies');
          return (
            <>
              <div className="panel-head">
                <h2 id="chatter-title">{name}</h2>
                <span className="muted">this chatter in the window; the panels below cover every chatter</span>
              </div>
              {row ? (
                <div className="card-grid response">
                  <StatCard label="Revenue" value={formatMoney(row.revenue)} rawValue={row.revenue} testId="chatter-revenue" hint={`PPV ${formatMoney(row.ppv_revenue)} · tips ${formatMoney(row.tips_amount)}`} />
                  <StatCard
                    label="Unlock rate"
                    value={formatPercent(row.unlock_rate)}
                    rawValue={row.unlock_rate}
                    reason={explainReason(reasons?.unlock_rate)}
                    testId="chatter-unlock-rate"
                    hint={`${formatNumber(row.ppv_purchased)} of ${plural(row.ppv_offered, 'offer')}`}
                  />
                  <StatCard label="Messages sent" value={formatNumber(row.messages_sent)} rawValue={row.messages_sent} testId="chatter-messages" hint={`to ${plural(row.fans, 'fan')}`} />
                  <StatCard label="Replies" value={formatNumber(row.replies)} rawValue={row.replies} testId="chatter-replies" />
                  <StatCard label="Reply median" value={formatDuration(row.reply_time.median_seconds)} rawValue={row.reply_time.median_seconds} reason={replyReason} testId="chatter-reply-median" />
                  <StatCard label="Reply p90" value={formatDuration(row.reply_time.p90_seconds)} rawValue={row.reply_time.p90_seconds} reason={replyReason} testId="chatter-reply-p90" />
                  <StatCard
                    label="Within SLA"
                    value={formatPercent(row.reply_time.within_sla_percentage)}
                    rawValue={row.reply_time.within_sla_percentage}
                    reason={replyReason}
                    testId="chatter-sla"
                  />
                  <StatCard
                    label="Revenue / session"
                    value={formatMoney(revenue?.current.revenue_per_session)}
                    rawValue={revenue?.current.revenue_per_session ?? null}
                    reason={explainReason(revenue?.current.unavailable_reasons?.revenue_per_session) ?? (revenue ? undefined : 'The revenue endpoint did not answer.')}
                    testId="chatter-revenue-per-session"
                    info="Their revenue / the window's sessions in which they sent a message."
                  />
                </div>
              ) : (
                <p className="muted table-empty">This chatter sent, offered or was credited nothing in this window.</p>
              )}
            </>
          );
        }}
      </LoadedSlot>
    </section>
  );
}
