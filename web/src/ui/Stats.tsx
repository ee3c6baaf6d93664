// Shared pieces of the insights views: a value or a dash with its reason, stat cards with the
// change against the previous window, and the words for every reason code (METRICS.md).
import type { ReactNode } from 'react';
import { DASH, formatNumber, formatPercent } from '../lib/format';
import { Icon } from './common';

export const REASONS: Record<string, string> = {
  no_sessions: 'No sessions started in this window.',
  no_defined_silence: 'Every session is a single message, so silence is undefined.',
  no_inbound_text: 'No fan messages with text in these sessions.',
  no_replies: 'No fan message was answered in this window.',
  no_previous_volume: 'The topic had no sessions in the previous window, so there is no trend.',
  no_previous_sessions: 'No sessions in the previous window to compare with.',
  no_ppv_offered: 'No pay-per-view offer was sent in this window.',
  no_ppv_purchased: 'No pay-per-view offer was unlocked in this window.',
  no_paying_fans: 'No fan paid anything in this window.',
  no_messages_sent: 'This chatter sent no message in this window.',
};

export function explainReason(code: string | undefined | null): string | undefined {
  if (!code) return undefined;
  return REASONS[code] ?? code.replace(/_/g, ' ');
}

export function reasonFor(reasons: { [key: string]: string | undefined } | undefined, ...keys: string[]): string | undefined {
  if (!reasons) return undefined;
  for (const key of keys) if (reasons[key]) return explainReason(reasons[key]);
  return undefined;
}

/** A value, or an em dash whose tooltip says why there is no value. */
export function Value({ text, reason }: { text: string; reason?: string | undefined }) {
  if (text !== DASH) return <>{text}</>;
  return (
    <span className="null-value" title={reason ?? 'Not available'}>
      {DASH}
      <span className="visually-hidden">{reason ? ` (${reason})` : ' (not available)'}</span>
    </span>
  );
}

export function Delta({
  current,
  previous,
  label,
  format = (value: number) => formatNumber(value, Number.isInteger(value) ? 0 : 1),
  points = false,
}: {
  current: number | null;
  previous: number | null;
  label: string;
  /** How the previous value reads in the tooltip (money, counts). */
  format?: (value: number) => string;
  /** A rate (a percentage): the change in percentage points, not relative. */
  points?: boolean;
}) {
  if (current == null || previous == null) {
    return (
      <span className="delta muted" title={`No ${current == null ? 'value' : 'previous value'} to compare with`}>
        {DASH}
      </span>
    );
  }
  if (previous === 0 && current !== 0) {
    return (
      <span className="delta muted" title="Nothing in the previous window to compare with">
        new vs previous
      </span>
    );
  }
  const change = points ? current - previous : previous === 0 ? 0 : ((current - previous) / Math.abs(previous)) * 100;
  const direction = Math.abs(change) < 0.05 ? 'flat' : change > 0 ? 'up' : 'down';
  const shown = points ? `${formatNumber(Math.abs(change), 1)} pts` : formatPercent(Math.abs(change));
  return (
    <span className={`delta delta-${direction}`} title={`Previous ${label}: ${format(previous)}`}>
      {direction === 'up' ? <Icon name="arrowUp" size={12} /> : direction === 'down' ? <Icon name="arrowDown" size={12} /> : null}
      {shown}
      <span className="visually-hidden"> {direction === 'down' ? 'lower' : 'higher'} than the previous window</span>
    </span>
  );
}

export function StatCard({
  label,
  value,
  reason,
  hint,
  info,
  children,
  testId,
  rawValue,
}: {
  label: string;
  value: string;
  reason?: string | undefined;
  hint?: ReactNode;
  /** What the number means (a tooltip on the label). */
  info?: string;
  children?: ReactNode;
  testId?: string;
  /** The unformatted number (data-value), so tests compare it with the API exactly. */
  rawValue?: number | null;
}) {
  return (
    <div className="stat-card" data-testid={testId} data-value={rawValue === undefined ? undefined : String(rawValue)}>
      <div className="stat-label" title={info}>
        {label}
        {info ? (
          <span className="info-mark" aria-hidden="true">
            <Icon name="info" size={12} />
          </span>
        ) : null}
        {info ? <span className="visually-hidden"> ({info})</span> : null}
      </div>
      <div className="stat-value">
        <Value text={value} reason={reason} />
      </div>
      {children ? <div className="stat-foot">{children}</div> : null}
      {hint ? <div className="stat-hint muted">{hint}</div> : null}
    </div>
  );
}

