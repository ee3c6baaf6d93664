// Formatting helpers shared by the views. Nulls render as an em dash: nothing is faked.

export const DASH = '—';

export function parseTime(value: string | null | undefined): number | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** A compact duration: 45s, 12m, 3h 05m, 2d 4h. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) {
    const rest = s % 60;
    return minutes < 10 && rest ? `${minutes}m ${String(rest).padStart(2, '0')}s` : `${minutes}m`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  const days = Math.floor(hours / 24);
  return `${days}d ${hours % 24}h`;
}

export function formatMinutes(minutes: number | null | undefined): string {
  if (minutes === null || minutes === undefined) return DASH;
  return formatDuration(minutes * 60);
}

export function formatPercent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return `${value.toFixed(digits)}%`;
}

const numberFormatters = new Map<number, Intl.NumberFormat>();

export function formatNumber(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  let formatter = numberFormatters.get(digits);
  if (!formatter) {
    formatter = new Intl.NumberFormat(undefined, {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    numberFormatters.set(digits, formatter);
  }
  return formatter.format(value);
}

/** Sentiment in [0, 1] as shown everywhere: a 0–100 score. */
export function formatSentiment(score: number | null | undefined): string {
  if (score === null || score === undefined) return DASH;
  return String(Math.round(score * 100));
}

export type SentimentTone = 'negative' | 'neutral' | 'positive' | 'none';

/** VADER's usual cut-offs (compound ±0.05) mapped onto the [0, 1] score. */
export function sentimentTone(score: number | null | undefined): SentimentTone {
  if (score === null || score === undefined) return 'none';
  if (score <= 0.475) return 'negative';
  if (score >= 0.525) return 'positive';
  return 'neutral';
}

export function sentimentLabel(score: number | null | undefined): string {
  const tone = sentimentTone(score);
  return tone === 'none' ? 'no sentiment' : tone;
}

// Intl formatters are expensive to build (toLocale*String builds one per call); the inbox
// formats hundreds of times a second, so each distinct formatter is built once.
const formatters = new Map<string, Intl.DateTimeFormat>();

export function dateFormatter(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = JSON.stringify(options);
  let formatter = formatters.get(key);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat(undefined, options);
    formatters.set(key, formatter);
  }
  return formatter;
}

export function formatClock(value: string | null | undefined, timeZone?: string): string {
  const ms = parseTime(value);
  if (ms === null) return DASH;
  return dateFormatter({ hour: '2-digit', minute: '2-digit', timeZone }).format(ms);
}

/** "14:05" today, "Mon 14:05" this week, else "12 Mar". */
export function formatWhen(value: string | null | undefined, now: number = Date.now()): string {
  const ms = parseTime(value);
  if (ms === null) return DASH;
  const date = new Date(ms);
  const today = new Date(now);
  if (date.toDateString() === today.toDateString()) {
    return dateFormatter({ hour: '2-digit', minute: '2-digit' }).format(ms);
  }
  if (now - ms < 6 * 86400_000 && now >= ms) {
    return dateFormatter({ weekday: 'short', hour: '2-digit', minute: '2-digit' }).format(ms);
  }
  return dateFormatter({ day: 'numeric', month: 'short' }).format(ms);
}

/** Seconds elapsed since an ISO time, or null. */
export function secondsSince(value: string | null | undefined, now: number): number | null {
  const ms = parseTime(value);
  return ms === null ? null : Math.max(0, (now - ms) / 1000);
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  const first = parts[0]?.[0] ?? '';
  const second = parts.length > 1 ? (parts[parts.length - 1]?.[0] ?? '') : '';
  return (first + second).toUpperCase() || '?';
}

/** "pricing_ppv" -> "Pricing ppv" when no label is known. */
export function prettifyId(id: string): string {
  const words = id.replace(/[_-]+/g, ' ').trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : id;
}

/** "1 message", "2 messages", "1,204 messages" (English plurals; irregular ones given). */
export function plural(count: number | null | undefined, one: string, many = `${one}s`): string {
  if (count === null || count === undefined || !Number.isFinite(count)) return `${DASH} ${many}`;
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}

/** What the 0–100 sentiment scale means, for tooltips next to every sentiment number. */
export const SENTIMENT_SCALE =
  'Sentiment 0–100 (0 very negative, 50 neutral, 100 very positive): the VADER score of the ' +
  "fan's messages; negative at 47.5 and below, positive at 52.5 and above, neutral between.";
