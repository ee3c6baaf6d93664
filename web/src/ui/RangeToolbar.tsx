// The insights window chosen once for every insights view (Insights, Revenue, Fans, Chatters):
// presets or custom dates, the timezone and the bucket size, kept in localStorage.
import { useEffect, useState, type ReactNode } from 'react';
import {
  browserTimeZone,
  isoDate,
  type Granularity,
  type Preset,
  type RangeSelection,
} from '../lib/range';

export const RANGE_KEY = 'ofca.insights.range.v1';

export function loadSelection(): RangeSelection {
  const fallback: RangeSelection = {
    preset: '30d',
    customStart: isoDate(Date.now() - 13 * 86_400_000, browserTimeZone()),
    customEnd: isoDate(Date.now(), browserTimeZone()),
    timezone: browserTimeZone(),
    granularity: 'auto',
  };
  try {
    const stored = JSON.parse(localStorage.getItem(RANGE_KEY) ?? 'null') as Partial<RangeSelection> | null;
    return stored ? { ...fallback, ...stored } : fallback;
  } catch {
    return fallback;
  }
}

/** The shared range selection, saved whenever it changes. */
export function useRangeSelection(): [RangeSelection, (next: RangeSelection) => void] {
  const [selection, setSelection] = useState<RangeSelection>(loadSelection);
  const key = JSON.stringify(selection);
  useEffect(() => {
    localStorage.setItem(RANGE_KEY, key);
  }, [key]);
  return [selection, setSelection];
}

export function RangeToolbar({
  selection,
  onChange,
  zones,
  buckets = true,
  children,
}: {
  selection: RangeSelection;
  onChange: (next: RangeSelection) => void;
  zones: string[];
  /** Whether the view draws buckets (a trend) and so offers their size. */
  buckets?: boolean;
  /** More filters (a chatter) after the window's. */
  children?: ReactNode;
}) {
  const presets: { id: Preset; label: string }[] = [
    { id: '7d', label: '7 days' },
    { id: '30d', label: '30 days' },
    { id: '90d', label: '90 days' },
    { id: 'custom', label: 'Custom' },
  ];
  return (
    <div className="range-toolbar" role="group" aria-label="Date range">
      <div className="segmented" role="radiogroup" aria-label="Range preset">
        {presets.map((preset) => (
          <button
            key={preset.id}
            type="button"
            role="radio"
            aria-checked={selection.preset === preset.id}
            className={selection.preset === preset.id ? 'active' : ''}
            onClick={() => onChange({ ...selection, preset: preset.id })}
          >
            {preset.label}
          </button>
        ))}
      </div>
      {selection.preset === 'custom' ? (
        <div className="custom-range">
          <label>
            <span>From</span>
            <input
              type="date"
              value={selection.customStart}
              max={selection.customEnd || undefined}
              onChange={(e) => e.target.value && onChange({ ...selection, customStart: e.target.value })}
            />
          </label>
          <label>
            <span>To</span>
            <input
              type="date"
              value={selection.customEnd}
              min={selection.customStart || undefined}
              onChange={(e) => e.target.value && onChange({ ...selection, customEnd: e.target.value })}
            />
          </label>
        </div>
      ) : null}
      <label className="select-field">
        <span>Timezone</span>
        <select value={selection.timezone} onChange={(e) => onChange({ ...selection, timezone: e.target.value })}>
          {(zones.includes(selection.timezone) ? zones : [selection.timezone, ...zones]).map((zone) => (
            <option key={zone} value={zone}>
              {zone.replace(/_/g, ' ')}
            </option>
          ))}
        </select>
      </label>
      {buckets ? (
        <label className="select-field">
          <span>Buckets</span>
          <select
            value={selection.granularity}
            onChange={(e) => onChange({ ...selection, granularity: e.target.value as Granularity | 'auto' })}
          >
            <option value="auto">Auto</option>
            <option value="hour">Hourly</option>
            <option value="day">Daily</option>
            <option value="week">Weekly</option>
          </select>
        </label>
      ) : null}
      {children}
    </div>
  );
}

