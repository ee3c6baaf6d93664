import { describe, expect, it } from 'vitest';
import { resolveRange, zonedMidnight } from './range';

describe('resolveRange', () => {
  it('ends a preset at the next whole minute and spans its days', () => {
    const now = Date.parse('2026-03-10T10:15:30Z');
    const range = resolveRange(
      { preset: '7d', customStart: '', customEnd: '', timezone: 'UTC', granularity: 'auto' },
      now,
    );
    expect(range.end).toBe('2026-03-10T10:16:00.000Z');
    expect(range.start).toBe('2026-03-03T10:16:00.000Z');
    expect(range.granularity).toBe('day');
  });

  it('turns custom dates into local midnights, end date inclusive, across DST', () => {
    // Europe/Berlin switches to summer time on 2026-03-29.
    const range = resolveRange({
      preset: 'custom',
      customStart: '2026-03-28',
      customEnd: '2026-03-29',
      timezone: 'Europe/Berlin',
      granularity: 'auto',
    });
    expect(range.start).toBe('2026-03-27T23:00:00.000Z');
    expect(range.end).toBe('2026-03-29T22:00:00.000Z');
    expect(range.granularity).toBe('hour');
  });

  it('uses week buckets for long windows', () => {
    const range = resolveRange(
      { preset: '90d', customStart: '', customEnd: '', timezone: 'UTC', granularity: 'auto' },
      Date.parse('2026-03-10T00:00:00Z'),
    );
    expect(range.granularity).toBe('week');
  });
});

describe('zonedMidnight', () => {
  it('finds local midnight in a zone west of UTC', () => {
    expect(new Date(zonedMidnight('2026-01-15', 'America/New_York')).toISOString()).toBe(
      '2026-01-15T05:00:00.000Z',
    );
  });
});
