// Contract-shaped answers (METRICS.md "Money" and "Chatters") for a server WITHOUT the money
// API, used only when OFCA_E2E_MONEY_FIXTURES=1 says so: the views' layout can then be
// checked before the backend lands. A run on fixtures never passes as verified (money.e2e.mjs
// lists what it could not check and exits non-zero).

function windowOf(url) {
  const end = Date.parse(url.searchParams.get('end') ?? '') || Date.now();
  const start = Date.parse(url.searchParams.get('start') ?? '') || end - 30 * 86_400_000;
  return { start, end };
}

function values(scale, tipsAmount = 412.5 * scale, ppvRevenue = 1290 * scale) {
  const gross = tipsAmount + ppvRevenue;
  return {
    gross,
    net: gross * 0.8,
    tips: Math.round(31 * scale),
    tips_amount: tipsAmount,
    tips_without_amount: 2,
    ppv_offered: Math.round(120 * scale),
    ppv_purchased: Math.round(43 * scale),
    ppv_revenue: ppvRevenue,
    unlock_rate: (Math.round(43 * scale) / Math.round(120 * scale)) * 100,
    average_purchase: ppvRevenue / Math.round(43 * scale),
    paying_fans: Math.round(17 * scale),
    revenue_per_paying_fan: gross / Math.round(17 * scale),
    revenue_per_session: gross / Math.round(300 * scale),
    unavailable_reasons: {},
  };
}

export function revenue(url) {
  const { start, end } = windowOf(url);
  const step = url.searchParams.get('granularity') === 'hour' ? 3_600_000 : url.searchParams.get('granularity') === 'week' ? 7 * 86_400_000 : 86_400_000;
  const trend = [];
  for (let t = Math.floor(start / step) * step, i = 0; t < end; t += step, i++) {
    const tips = (i * 37) % 5 === 0 ? 0 : 10 + ((i * 13) % 40);
    const ppv = i % 4 === 3 ? 0 : 20 + ((i * 29) % 70);
    trend.push({ date: new Date(t).toISOString(), gross: tips + ppv, tips_amount: tips, ppv_revenue: ppv, ppv_offered: 4, ppv_purchased: ppv ? 2 : 0 });
  }
  const scale = url.searchParams.get('chatter') ? 0.4 : 1;
  for (const p of trend) {
    p.tips_amount *= scale;
    p.ppv_revenue *= scale;
    p.gross *= scale;
  }
  const sum = (key) => trend.reduce((total, p) => total + p[key], 0);
  return {
    current: values(scale, sum('tips_amount'), sum('ppv_revenue')),
    previous: values(scale * 0.8),
    trend,
    window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
    previous_window: { start: new Date(2 * start - end).toISOString(), end: new Date(start).toISOString() },
  };
}

const CHATTERS = [
  ['user:1', 'Ava (day shift)', 980.5, 61.2, 640, 95, 480],
  ['ext:olga', 'Olga', 512, 44.1, 410, 130, 900],
  ['key:2', 'Night bot key', 210, null, 120, 400, 2400],
  ['unassigned', null, 0, null, 0, null, null],
];

export function chatters(url) {
  const { start, end } = windowOf(url);
  const only = url.searchParams.get('chatter');
  const rows = CHATTERS.filter(([id]) => !only || id === only).map(([chatter, name, revenueValue, unlock, sent, median, p90]) => ({
    chatter,
    name,
    messages_sent: sent,
    fans: Math.round(sent / 12),
    replies: median == null ? 0 : Math.round(sent / 3),
    reply_time: {
      count: median == null ? 0 : Math.round(sent / 3),
      mean_seconds: median == null ? null : median * 1.4,
      median_seconds: median,
      p90_seconds: p90,
      within_sla_percentage: median == null ? null : Math.max(0, 100 - median / 6),
    },
    ppv_offered: unlock == null ? 0 : 40,
    ppv_purchased: unlock == null ? 0 : Math.round((unlock / 100) * 40),
    ppv_revenue: revenueValue * 0.7,
    unlock_rate: unlock,
    tips_amount: revenueValue * 0.3,
    revenue: revenueValue,
    revenue_per_message: sent ? revenueValue / sent : null,
    unavailable_reasons: {
      ...(unlock == null ? { unlock_rate: 'no_ppv_offered' } : {}),
      ...(median == null ? { reply_time: 'no_replies' } : {}),
      ...(sent ? {} : { revenue_per_message: 'no_messages_sent' }),
    },
  }));
  return { chatters: rows, window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() } };
}

export function fans(url, conversations) {
  const { start, end } = windowOf(url);
  const tier = url.searchParams.get('tier');
  const rows = conversations.map((item, i) => {
    const lifetime = i < 3 ? 450 - i * 100 : i % 3 === 0 ? 0 : 12 * (i % 7) + 5;
    return {
      chat_id: item.chat_id,
      fan: { name: item.fan.name ?? null, username: item.fan.username ?? null },
      lifetime_spend: lifetime,
      window_spend: lifetime / 3,
      tips_amount: lifetime * 0.25,
      ppv_revenue: lifetime * 0.75,
      last_paid_at: lifetime ? new Date(end - i * 3_600_000).toISOString() : null,
      tier: lifetime >= 100 ? 'whale' : lifetime > 0 ? 'spender' : 'free',
      waiting_seconds: item.status === 'open' ? 600 + i * 300 : null,
    };
  });
  const kept = rows.filter((r) => !tier || r.tier === tier).sort((a, b) => b.lifetime_spend - a.lifetime_spend || (a.chat_id < b.chat_id ? -1 : 1));
  const late = kept.filter((r) => (r.waiting_seconds ?? 0) > 300);
  return {
    fans: kept.slice(0, Number(url.searchParams.get('limit') ?? 50)),
    spend_waiting: late.reduce((sum, r) => sum + r.lifetime_spend, 0),
    fans_waiting: late.length,
    as_of: new Date(end).toISOString(),
    window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
  };
}

/** Serves the money endpoints from the fixtures; ``conversations`` gives real chat ids. */
export async function mockMoney(context, conversations) {
  const serve = (name, build) =>
    context.route(`**/api/v1/insights/${name}?**`, (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(build(new URL(route.request().url()))) }),
    );
  await serve('revenue', revenue);
  await serve('chatters', chatters);
  await serve('fans', (url) => fans(url, conversations));
}
