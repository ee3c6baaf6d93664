// The Chatters leaderboard (METRICS.md "Chatters"): per person sending for the account, the
// revenue credited to them, their PPV unlock rate, messages, and how fast they answered fans.
import { useMemo } from 'react';
import { ApiError, type Api } from '../api/client';
import { chattersExportPath, fetchChatters, type ChatterRow, type ChattersResponse, type MoneyQuery } from '../api/money';
import { DASH, formatDuration, formatNumber, formatPercent } from '../lib/format';
import { chatterKind, chatterName, csvName, formatMoney, saveCsv, saveFile, toCsv } from '../lib/money';
import { resolveRange, timeZones } from '../lib/range';
import { CsvButton, LoadedSlot, UpdatedNote, useRemote } from './MoneyParts';
import { RangeToolbar, useRangeSelection } from './RangeToolbar';
import { describeWindow } from './Revenue';
import { explainReason, Value } from './Stats';

export function chattersCsv(data: ChattersResponse): string {
  return toCsv(
    [
      'chatter',
      'name',
      'revenue',
      'ppv_revenue',
      'tips_amount',
      'ppv_offered',
      'ppv_purchased',
      'unlock_rate',
      'messages_sent',
      'fans',
      'replies',
      'reply_median_seconds',
      'reply_p90_seconds',
      'within_sla_percentage',
      'revenue_per_message',
    ],
    data.chatters.map((r) => [
      r.chatter,
      r.name,
      r.revenue,
      r.ppv_revenue,
      r.tips_amount,
      r.ppv_offered,
      r.ppv_purchased,
      r.unlock_rate,
      r.messages_sent,
      r.fans,
      r.replies,
      r.reply_time.median_seconds,
      r.reply_time.p90_seconds,
      r.reply_time.within_sla_percentage,
      r.revenue_per_message,
    ]),
  );
}

/** The server's export; a server without it gets the table as shown, said so in the name. */
async function downloadChatters(api: Api, token: string, query: MoneyQuery, data: ChattersResponse): Promise<void> {
  const { path, params } = chattersExportPath(query);
  try {
    const { blob, filename } = await api.file(path, { token, query: params });
    saveFile(blob, filename ?? csvName('chatters', data.window.start, data.window.end));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
      saveCsv(chattersCsv(data), csvName('chatters-table', data.window.start, data.window.end));
      return;
    }
    throw error;
  }
}

function reason(row: ChatterRow, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const code = row.unavailable_reasons?.[key];
    if (code) return explainReason(code);
  }
  return undefined;
}

function Leaderboard({ rows, onChatter }: { rows: ChatterRow[]; onChatter: (chatter: string) => void }) {
  if (!rows.length) return <p className="muted table-empty">No chatter sent, offered or was credited anything in this window.</p>;
  const top = Math.max(0, ...rows.map((r) => r.revenue));
  return (
    <div className="table-wrap">
      <table className="topics-table money-table chatters-table" data-testid="chatters-table">
        <caption className="visually-hidden">Chatters by revenue; choose one to see their revenue</caption>
        <thead>
          <tr>
            <th scope="col">Chatter</th>
            <th scope="col" className="num">Revenue</th>
            <th scope="col" className="num" title="Unlocked PPV offers / offers they sent">Unlock rate</th>
            <th scope="col" className="num" title="Outbound messages they sent in the window">Messages</th>
            <th scope="col" className="num">Fans</th>
            <th scope="col" className="num" title="Fan messages they answered first">Replies</th>
            <th scope="col" className="num" title="Median and 90th percentile of their reply times">
              Reply median · p90
            </th>
            <th scope="col" className="num">Within SLA</th>
            <th scope="col" className="num">Revenue / msg</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const name = chatterName(row.chatter, row.name);
            const replyReason = reason(row, 'reply_time', 'reply_time.median_seconds', 'median_seconds');
            return (
              <tr key={row.chatter} data-chatter={row.chatter}>
                <th scope="row">
                  <button type="button" className="link-button" onClick={() => onChatter(row.chatter)} title={`${chatterKind(row.chatter)}: show their revenue`}>
                    {name}
                  </button>
                  <span className="chatter-kind muted">{chatterKind(row.chatter)}</span>
                </th>
                <td className="num" data-label="Revenue" data-value={row.revenue}>
                  <span className="pct-cell">
                    <span className="pct-bar" aria-hidden="true">
                      <span style={{ width: `${top ? Math.min(100, (row.revenue / top) * 100) : 0}%` }} />
                    </span>
                    <span className="pct-text" title={`PPV ${formatMoney(row.ppv_revenue)} · tips ${formatMoney(row.tips_amount)}`}>
                      {formatMoney(row.revenue)}
                    </span>
                  </span>
                </td>
                <td className="num" data-label="Unlock rate" data-value={row.unlock_rate ?? ''}>
                  <span>
                    <Value text={formatPercent(row.unlock_rate)} reason={reason(row, 'unlock_rate')} />
                    {row.ppv_offered ? (
                      <span className="muted small cell-sub" title="unlocked / offered">
                        {' '}
                        {formatNumber(row.ppv_purchased)}/{formatNumber(row.ppv_offered)}
                      </span>
                    ) : null}
                  </span>
                </td>
                <td className="num" data-label="Messages" data-value={row.messages_sent}>
                  {formatNumber(row.messages_sent)}
                </td>
                <td className="num" data-label="Fans">
                  {formatNumber(row.fans)}
                </td>
                <td className="num" data-label="Replies">
                  {formatNumber(row.replies)}
                </td>
                <td className="num" data-label="Reply median · p90" data-value={row.reply_time.median_seconds ?? ''} data-p90={row.reply_time.p90_seconds ?? ''}>
                  {row.reply_time.median_seconds == null ? (
                    <Value text={DASH} reason={replyReason} />
                  ) : (
                    <span>
                      {formatDuration(row.reply_time.median_seconds)}
                      <span className="muted"> · {formatDuration(row.reply_time.p90_seconds)}</span>
                    </span>
                  )}
                </td>
                <td className="num" data-label="Within SLA" data-value={row.reply_time.within_sla_percentage ?? ''}>
                  <Value text={formatPercent(row.reply_time.within_sla_percentage)} reason={replyReason} />
                </td>
                <td className="num" data-label="Revenue / msg">
                  <Value text={row.revenue_per_message == null ? DASH : formatMoney(row.revenue_per_message)} reason={reason(row, 'revenue_per_message')} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function Chatters({
  api,
  token,
  accountId,
  liveUpdateAt,
  onChatter,
}: {
  api: Api;
  token: string;
  accountId: string;
  liveUpdateAt: number | null;
  /** Choose a chatter: their revenue (the Revenue view filtered by them). */
  onChatter: (chatter: string) => void;
}) {
  const [selection, setSelection] = useRangeSelection();
  const zones = useMemo(timeZones, []);
  const range = resolveRange(selection);
  const key = `${accountId}|${range.start}|${range.end}`;
  const state = useRemote(key, (signal) => fetchChatters(api, token, { accountId, range }, signal), liveUpdateAt);

  return (
    <div className="insights money-view" data-testid="chatters-view">
      <div className="insights-head">
        <RangeToolbar selection={selection} onChange={setSelection} zones={zones} buckets={false} />
        <UpdatedNote state={state} />
      </div>
      <LoadedSlot state={state} what="chatter leaderboard">
        {(data) => {
          const total = data.chatters.reduce((sum, r) => sum + r.revenue, 0);
          return (
            <>
              <p className="window-note muted">{describeWindow(data.window)}</p>
              <section className="panel" aria-labelledby="chatters-title">
                <div className="panel-head">
                  <h2 id="chatters-title">Chatters</h2>
                  <span className="panel-actions">
                    <span className="muted" data-testid="chatters-total" data-value={total}>
                      {formatMoney(total)} across {data.chatters.length === 1 ? '1 chatter' : `${data.chatters.length} chatters`}
                    </span>
                    <CsvButton testId="chatters-csv" onClick={() => downloadChatters(api, token, { accountId, range }, data)} />
                  </span>
                </div>
                <Leaderboard rows={data.chatters} onChatter={onChatter} />
              </section>
              <p className="muted small">
                A sale counts for the chatter who sent the offer; a tip for the chatter of the last message the fan saw
                within 24 hours (OFCA_TIP_CREDIT_HOURS), else for “Unassigned”. Reply times are measured from the fan’s
                first unanswered message to the chatter’s answer.
              </p>
            </>
          );
        }}
      </LoadedSlot>
    </div>
  );
}
