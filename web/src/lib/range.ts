// Insights windows: presets and custom dates, resolved to the half-open [start, end) the
// REST API takes. Custom dates are whole days in the chosen timezone (end date inclusive).

export type Preset = '7d' | '30d' | '90d' | 'custom';
export type Granularity = 'hour' | 'day' | 'week';

export interface RangeSelection {
  preset: Preset;
  /** YYYY-MM-DD, used when preset is custom. */
  customStart: string;
  customEnd: string;
  timezone: string;
  granularity: Granularity | 'auto';
}

export interface ResolvedRange {
  start: string;
  end: string;
  timezone: string;
  granularity: Granularity;
  days: number;
}

export const PRESET_DAYS: Record<Exclude<Preset, 'custom'>, number> = { '7d': 7, '30d': 30, '90d': 90 };
const DAY_MS = 86_400_000;

/** The UTC offset (ms) of ``timeZone`` at the instant ``utcMs``. */
export function zoneOffsetMs(timeZone: string, utcMs: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/** The instant of local midnight starting ``date`` (YYYY-MM-DD) in ``timeZone``. */
export function zonedMidnight(date: string, timeZone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d);
  const first = wall - zoneOffsetMs(timeZone, wall);
  const second = wall - zoneOffsetMs(timeZone, first);
  return second;
}

export function isoDate(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    new Date(ms),
  );
}

/** The calendar day after YYYY-MM-DD. */
export function nextDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

function autoGranularity(days: number): Granularity {
  if (days <= 2) return 'hour';
  if (days <= 62) return 'day';
  return 'week';
}

export function resolveRange(selection: RangeSelection, now: number = Date.now()): ResolvedRange {
  let startMs: number;
  let endMs: number;
  if (selection.preset === 'custom' && selection.customStart && selection.customEnd) {
    startMs = zonedMidnight(selection.customStart, selection.timezone);
    // The local midnight after the end date (a DST day is not 24 h long, so no + 24 h).
    endMs = zonedMidnight(nextDate(selection.customEnd), selection.timezone);
  } else {
    const days = PRESET_DAYS[selection.preset === 'custom' ? '30d' : selection.preset];
    // Whole minutes, so repeated refreshes within a minute ask for the same window.
    endMs = Math.ceil(now / 60_000) * 60_000;
    startMs = endMs - days * DAY_MS;
  }
  const days = Math.max(1, Math.round((endMs - startMs) / DAY_MS));
  return {
    start: new Date(startMs).toISOString(),
    end: new Date(endMs).toISOString(),
    timezone: selection.timezone,
    granularity: selection.granularity === 'auto' ? autoGranularity(days) : selection.granularity,
    days,
  };
}

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export function timeZones(): string[] {
  const supported = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf;
  const zones = supported ? supported('timeZone') : [];
  return zones.includes('UTC') ? zones : ['UTC', ...zones];
}
