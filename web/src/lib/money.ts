// Money as the dashboard shows it (METRICS.md "Money" and "Chatters"): amounts in the
// platform's currency (US dollars), tiers, chatter names, the change against the previous
// window, and CSV files of what a table shows. Nulls stay nulls (an em dash with a reason).
import type { ConversationNode } from '../generated/wss';
import { DASH } from './format';

export type Tier = 'whale' | 'spender' | 'free';

const moneyFormatters = new Map<string, Intl.NumberFormat>();

function moneyFormatter(digits: number, locale?: string): Intl.NumberFormat {
  const key = `${locale ?? ''}|${digits}`;
  let formatter = moneyFormatters.get(key);
  if (!formatter) {
    formatter = new Intl.NumberFormat(locale, {
      style: 'currency',
      currency: 'USD',
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    moneyFormatters.set(key, formatter);
  }
  return formatter;
}

/** "$1,234.50"; ``compact`` drops the cents of whole amounts ("$1,235" is never rounded up). */
export function formatMoney(value: number | null | undefined, options: { compact?: boolean; locale?: string } = {}): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  const whole = Math.abs(value - Math.round(value)) < 0.005;
  return moneyFormatter(options.compact && whole ? 0 : 2, options.locale).format(value);
}

/** The change from ``previous`` to ``current`` in percent; 'new' when there was nothing before. */
export function percentChange(current: number | null | undefined, previous: number | null | undefined): number | 'new' | null {
  if (current === null || current === undefined || previous === null || previous === undefined) return null;
  if (!Number.isFinite(current) || !Number.isFinite(previous)) return null;
  if (previous === 0) return current === 0 ? 0 : 'new';
  return ((current - previous) / Math.abs(previous)) * 100;
}

export const TIER_LABELS: Record<Tier, string> = { whale: 'Whale', spender: 'Spender', free: 'Free' };

export const TIER_HINTS: Record<Tier, string> = {
  whale: 'Lifetime spend at or above OFCA_WHALE_SPEND (100 by default)',
  spender: 'Has paid something (a tip with an amount or an unlocked PPV)',
  free: 'Has never paid',
};

export function isTier(value: unknown): value is Tier {
  return value === 'whale' || value === 'spender' || value === 'free';
}

/** A chatter's display name: their name, "Unassigned", or the id when no name is known. */
export function chatterName(chatter: string, name: string | null | undefined): string {
  if (name) return name;
  if (chatter === 'unassigned') return 'Unassigned';
  return chatter;
}

/** What kind of sender a chatter id is (METRICS.md "Chatters": user:, key:, ext:). */
export function chatterKind(chatter: string): string {
  if (chatter.startsWith('user:')) return 'dashboard login';
  if (chatter.startsWith('key:')) return 'API key';
  if (chatter.startsWith('ext:')) return 'extension operator';
  return 'no sender recorded';
}

/**
 * The money fields of a live conversation node (``lifetime_spend``, ``tier``). ``known`` is
 * false when the server does not send them (an older server): nothing is shown then, never 0.
 */
export function nodeMoney(node: ConversationNode): { known: boolean; lifetimeSpend: number | null; tier: Tier | null } {
  const known = 'lifetime_spend' in node || 'tier' in node;
  const value: unknown = node.lifetime_spend;
  const spend = typeof value === 'number' && Number.isFinite(value) ? value : null;
  return { known, lifetimeSpend: spend, tier: isTier(node.tier) ? node.tier : null };
}

/** Bigger lifetime spend first; unknown spend after every known one (0 included). */
export function compareSpend(a: ConversationNode, b: ConversationNode): number {
  const aSpend = nodeMoney(a).lifetimeSpend;
  const bSpend = nodeMoney(b).lifetimeSpend;
  if (aSpend === bSpend) return 0;
  if (aSpend === null) return 1;
  if (bSpend === null) return -1;
  return bSpend - aSpend;
}

// ------------------------------------------------------------------------------- CSV

export type CsvValue = string | number | boolean | null | undefined;

/**
 * One CSV field (RFC 4180). Text that a spreadsheet would run as a formula (=, +, -, @ at the
 * start: a fan's name is anyone's text) gets a leading apostrophe; numbers stay numbers and a
 * null stays an empty field, never 0.
 */
export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  let text = value;
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** Hands a file to the browser as a download. */
export function saveFile(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function saveCsv(text: string, filename: string): void {
  saveFile(new Blob([text], { type: 'text/csv;charset=utf-8' }), filename);
}

/** "revenue-2026-11-04-2026-12-04.csv": what, and the window's local dates. */
export function csvName(what: string, start: string, end: string): string {
  const day = (value: string, shift = 0) => {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? 'unknown' : new Date(ms - shift).toISOString().slice(0, 10);
  };
  return `${what}-${day(start)}-${day(end, 1)}.csv`;
}
