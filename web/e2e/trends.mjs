// Fixtures for the insights charts over time (reply-time trend, volume trend, activity
// heatmap), served by Playwright route mocks while the server has no such endpoints yet
// (docs/metrics.md defines them; the e2e uses the real ones as soon as the server answers).

function buckets(url) {
  const start = Date.parse(url.searchParams.get('start') ?? '') || Date.now() - 30 * 86_400_000;
  const end = Date.parse(url.searchParams.get('end') ?? '') || Date.now();
  const step = url.searchParams.get('granularity') === 'hour' ? 3_600_000 : url.searchParams.get('granularity') === 'week' ? 7 * 86_400_000 : 86_400_000;
  const dates = [];
  for (let t = Math.floor(start / step) * step; t < end; t += step) dates.push(new Date(t).toISOString());
  return { dates, start: new Date(start).toISOString(), end: new Date(end).toISOString() };
}

export function replyTimeTrend(url) {
  const { dates, start, end } = buckets(url);
  return {
    trend: dates.map((date, i) => {
      const count = i % 3 === 2 ? 0 : 2 + (i % 4);
      return {
        date,
        count,
        median_seconds: count ? 120 + 40 * (i % 5) : null,
        p90_seconds: count ? 600 + 120 * (i % 4) : null,
        within_sla_percentage: count ? 50 + 10 * (i % 5) : null,
      };
    }),
    granularity: url.searchParams.get('granularity') ?? 'day',
    timezone: url.searchParams.get('timezone') ?? 'UTC',
    sla_seconds: 300,
    window: { start, end },
  };
}

export function volumeTrend(url) {
  const { dates, start, end } = buckets(url);
  return {
    trend: dates.map((date, i) => {
      const inbound = (i * 7) % 11;
      const outbound = (i * 5) % 7;
      return { date, messages: inbound + outbound, inbound_messages: inbound, outbound_messages: outbound };
    }),
    granularity: url.searchParams.get('granularity') ?? 'day',
    timezone: url.searchParams.get('timezone') ?? 'UTC',
    window: { start, end },
  };
}

export function activityHeatmap(url) {
  const { start, end } = buckets(url);
  const cells = [];
  for (let weekday = 0; weekday < 7; weekday++) {
    for (let hour = 0; hour < 24; hour++) {
      const evening = hour >= 18 && hour <= 23 ? 6 : hour >= 9 && hour < 18 ? 2 : 0;
      cells.push({ weekday, hour, inbound_messages: evening + (weekday >= 4 ? 3 : 0) * (evening ? 1 : 0) });
    }
  }
  return { cells, timezone: url.searchParams.get('timezone') ?? 'UTC', window: { start, end } };
}

const FIXTURES = {
  'reply-time-trend': replyTimeTrend,
  'volume-trend': volumeTrend,
  'activity-heatmap': activityHeatmap,
};

/** Mocks the endpoints the server lacks (404); returns the names it mocked. */
export async function mockMissingTrends(context, base, token, accountId) {
  const mocked = [];
  for (const [name, fixture] of Object.entries(FIXTURES)) {
    const response = await fetch(`${base}/api/v1/insights/${name}?account_id=${encodeURIComponent(accountId)}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    if (response.status !== 404 && response.status !== 405) continue;
    mocked.push(name);
    await context.route(`**/api/v1/insights/${name}?**`, (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(fixture(new URL(route.request().url()))) }),
    );
  }
  return mocked;
}
