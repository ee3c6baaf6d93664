// End-to-end for the money views (issue 14): a real ofca server on a temp SQLite file loaded
// with `ofca demo` (tips, PPV offers unlocked now and later, three chatters, a few whales),
// real Chromium (Debian's, via playwright-core). Signs in with the demo's dashboard key and
// visits Revenue, Fans, Chatters, the chatter filter on Insights and the inbox's spend order,
// at 1440x900 and at 390x844. Every number checked on the page is the server's own answer
// for the same request (data-value attributes hold the unformatted numbers), plus the
// contract's cross-checks (the chatters' revenues add up to the gross; net = gross * 0.8).
// Screenshots land in web/test-results/ as desktop-revenue.png, phone-fans.png, ...
//
//   npm run test:e2e:money       (E2E_SIZES=phone runs one size)
//
// A server without the money API fails the run, naming what is missing. With
// OFCA_E2E_MONEY_FIXTURES=1 the endpoints are served from contract-shaped fixtures instead
// (to check the layout before the backend lands): such a run lists every check it could not
// make against real data and still exits non-zero.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mockMoney } from './money-fixtures.mjs';
import {
  TIMEOUT,
  api,
  assert,
  launchChromium,
  ofcaCli,
  openExtension,
  resultsDir,
  runCleanups,
  screenshotTall,
  startServer,
  tempEnvironment,
  waitFor,
} from './harness.mjs';

const SIZES = {
  desktop: { width: 1440, height: 900, phone: false },
  phone: { width: 390, height: 844, phone: true },
};
const ACCOUNT = 'demo';
const CREATOR_ID = 4_000_001; // the demo creator (ofca.synthetic); a chat's id is its fan's
const FEE = 0.2; // OFCA_PLATFORM_FEE_PERCENT's default
const useFixtures = process.env.OFCA_E2E_MONEY_FIXTURES === '1';
/** Checks a fixtures run could not make against the real server (reported, never silent). */
const unverified = new Set();
/** What the demo account lacks for a view to show something true (issue 14 item 7). */
const demoGaps = new Set();

function expectDemo(condition, message) {
  if (!condition) demoGaps.add(message);
  return condition;
}

let step = 'start';
let currentPage = null;

function log(message) {
  step = message;
  console.log(`· ${message}`);
}

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const close = (a, b) => Math.abs(Number(a) - Number(b)) <= 1e-6 * Math.max(1, Math.abs(Number(b)));

function assertClose(actual, expected, what) {
  assert(close(actual, expected), `${what}: page ${actual}, server ${expected}`);
}

/** The next 200 answer of ``path`` whose query satisfies ``match``. */
function answerOf(page, path, match = () => true) {
  return page
    .waitForResponse((r) => {
      if (r.status() !== 200) return false;
      const url = new URL(r.url());
      return url.pathname === path && match(url.searchParams);
    })
    .then(async (r) => ({ url: new URL(r.url()), body: await r.json() }));
}

async function cardValue(page, testId) {
  const raw = await page.getByTestId(testId).getAttribute('data-value');
  return raw === '' || raw === 'null' || raw === null ? null : Number(raw);
}

/** A phone must not scroll sideways, and nothing in ``scope`` may stick out of the screen. */
async function assertFits(page, scope, what) {
  const result = await page.evaluate((selector) => {
    const width = window.innerWidth;
    const outside = [];
    for (const root of document.querySelectorAll(selector)) {
      for (const el of [root, ...root.querySelectorAll('*')]) {
        if (el.closest('.visually-hidden')) continue;
        // Inside a container that clips or scrolls on purpose (the inbox row's faded chip
        // line), the container's own box is what must fit.
        let clipped = false;
        for (let up = el.parentElement; up && up !== root.parentElement; up = up.parentElement) {
          if (getComputedStyle(up).overflowX !== 'visible') clipped = true;
        }
        if (clipped) continue;
        const box = el.getBoundingClientRect();
        if (box.width > 0 && (box.right > width + 1 || box.left < -1)) {
          outside.push(`${el.tagName.toLowerCase()}.${String(el.className).replace(/\s+/g, '.')} [${Math.round(box.left)}, ${Math.round(box.right)}]`);
        }
      }
    }
    return { page: document.documentElement.scrollWidth - width, outside: outside.slice(0, 6) };
  }, scope);
  assert(result.page <= 0, `${what}: the page scrolls sideways by ${result.page}px`);
  assert(result.outside.length === 0, `${what}: clipped or outside the screen: ${result.outside.join('; ')}`);
}

/** On a laptop, a table shows every column without scrolling sideways. */
async function assertTableFits(page, testId) {
  const wrap = page.getByTestId(testId).locator('xpath=..');
  const { scroll, client } = await wrap.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
  assert(scroll <= client + 1, `${testId} needs sideways scrolling at 1440 px (${scroll} > ${client})`);
}

async function download(page, testId) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

const csvLines = (text) => text.split(/\r?\n/).filter(Boolean);

async function run(sizeName, browser) {
  const size = SIZES[sizeName];
  const shot = (name) => join(resultsDir, `${sizeName}-${name}.png`);
  const env = tempEnvironment('ofca-money-e2e-');

  log(`[${sizeName}] loading the demo account and starting ofca`);
  const report = ofcaCli(env, ['demo', '--account', ACCOUNT]);
  const key = /dashboard key \(shown once\):\s*(\S+)/.exec(report)?.[1];
  assert(key, `a dashboard key in the demo's report:\n${report}`);
  const server = await startServer(env);

  const missing = [];
  for (const name of ['revenue', 'fans', 'chatters']) {
    const probe = await api(server.base, `/api/v1/insights/${name}?account_id=${ACCOUNT}`, { token: key });
    if (probe.status === 404 || probe.status === 405) missing.push(`/api/v1/insights/${name}`);
    else assert(probe.status === 200, `${name} answered ${probe.status}: ${JSON.stringify(probe.body)}`);
  }
  if (missing.length && !useFixtures) {
    throw new Error(`this server has no ${missing.join(', ')}: the money backend (issue 14, branch money) is not in this build`);
  }

  const context = await browser.newContext({
    viewport: { width: size.width, height: size.height },
    colorScheme: 'light',
    locale: 'en-US',
    timezoneId: 'UTC',
    isMobile: size.phone,
    hasTouch: size.phone,
    deviceScaleFactor: size.phone ? 2 : 1,
    acceptDownloads: true,
  });
  if (missing.length) {
    const list = await api(server.base, `/api/v1/conversations?account_id=${ACCOUNT}&limit=100`, { token: key });
    await mockMoney(context, list.body.items);
    console.log(`  ✗ UNVERIFIED: ${missing.join(', ')} served from contract fixtures (OFCA_E2E_MONEY_FIXTURES=1)`);
    for (const name of missing) unverified.add(`${name}: values from fixtures, not the server`);
  }
  const page = await context.newPage();
  currentPage = page;
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
  });
  page.setDefaultTimeout(TIMEOUT);

  const openView = async (name) => {
    const menu = page.getByRole('button', { name: 'Menu' });
    if (await menu.isVisible()) {
      await menu.click();
      await page.locator('.menu-nav').getByRole('link', { name: new RegExp(`^${name}`) }).click();
    } else {
      await page.locator('.sidebar').getByRole('link', { name: new RegExp(`^${name}`) }).click();
    }
    await page.locator('.page-title', { hasText: name }).waitFor();
  };

  log('signing in with the demo dashboard key');
  await page.goto(server.base + '/');
  await page.getByRole('tab', { name: 'API key' }).click();
  await page.getByLabel('Dashboard or owner key').fill(key);
  await page.getByLabel(/Account id/).fill(ACCOUNT);
  await page.getByRole('button', { name: 'Open dashboard' }).click();
  await page.locator('.connection[data-phase="live"]').waitFor();
  // The insights window starts at 30 days (whatever an earlier run left in localStorage).
  await page.evaluate(() => localStorage.removeItem('ofca.insights.range.v1'));

  // ------------------------------------------------------------------------------ Revenue
  log('Revenue: gross and net against the previous window, unlock rate, average purchase, paying fans');
  let answer = answerOf(page, '/api/v1/insights/revenue', (q) => !q.get('chatter'));
  await openView('Revenue');
  const revenue = (await answer).body;
  const c = revenue.current;
  await page.getByTestId('revenue-gross').waitFor();
  expectDemo(c.tips > 0 && c.tips_amount > 0, `tips with amounts in the last 30 days (${c.tips} tips, ${c.tips_amount})`);
  expectDemo(c.ppv_offered > 0 && c.ppv_purchased > 0, `unlocked PPV in the last 30 days (${c.ppv_purchased} of ${c.ppv_offered} offers)`);
  assertClose(c.net, c.gross * (1 - FEE), 'net = gross less the 20% platform fee');
  assertClose(await cardValue(page, 'revenue-gross'), c.gross, 'gross card');
  assertClose(await cardValue(page, 'revenue-net'), c.net, 'net card');
  assertClose(await cardValue(page, 'revenue-paying-fans'), c.paying_fans, 'paying fans card');
  assert((await page.getByTestId('revenue-gross').innerText()).includes(money.format(c.gross)), `gross shows ${money.format(c.gross)}`);
  for (const [testId, field] of [['revenue-unlock-rate', 'unlock_rate'], ['revenue-average-purchase', 'average_purchase']]) {
    const card = page.getByTestId(testId);
    if (c[field] === null) {
      assert((await card.locator('.null-value').count()) === 1, `${field} is null: a dash with its reason, never 0`);
    } else {
      assertClose(await cardValue(page, testId), c[field], `${field} card`);
    }
  }
  if (revenue.previous.gross > 0) {
    await page.getByTestId('revenue-gross').locator('.delta').waitFor();
  }
  assert(revenue.trend.length > 0, 'a bucket per day');
  const trendTotal = revenue.trend.reduce((sum, p) => sum + p.gross, 0);
  assertClose(trendTotal, c.gross, 'the trend buckets add up to the gross');
  await page.locator('[data-testid="revenue-chart"] rect.bar').first().waitFor();
  const csv = await download(page, 'revenue-csv');
  assert(/^revenue-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/.test(csv.name), `revenue CSV name ${csv.name}`);
  assert(csvLines(csv.text).length === revenue.trend.length + 1, `one CSV line per bucket: ${csvLines(csv.text).length}`);
  assert(csvLines(csv.text)[0] === 'date,gross,tips_amount,ppv_revenue,ppv_offered,ppv_purchased', 'revenue CSV header');
  if (size.phone) await assertFits(page, '.money-view', 'Revenue');
  else await assertTableFits(page, 'revenue-compare');
  await screenshotTall(page, shot('revenue'));

  log('an offer and its unlock reach the Revenue view live (no reload)');
  const compareValue = async (field) =>
    Number(await page.locator(`[data-testid="revenue-compare"] tr[data-field="${field}"] td[data-label="This window"]`).getAttribute('data-value'));
  const extension = await openExtension(server.base.replace(/^http/, 'ws'), ACCOUNT, ofcaCli(env, ['keys', 'create', '--account', ACCOUNT, '--role', 'extension']));
  const buyer = (await api(server.base, `/api/v1/insights/fans?account_id=${ACCOUNT}&limit=1`, { token: key })).body.fans[0];
  const before = { gross: await cardValue(page, 'revenue-gross'), offered: await compareValue('ppv_offered'), purchased: await compareValue('ppv_purchased') };
  const offer = {
    id: `e2e-offer-${sizeName}`,
    chat_id: Number(buyer.chat_id),
    text: 'a new set, only for you',
    createdAt: new Date(Date.now() - 2000).toISOString(),
    fromUser: { id: CREATOR_ID },
    price: 30,
    isFree: false,
    isOpened: false,
  };
  await extension.send({ type: 'new_raw_message', payload: { message: offer } });
  await waitFor(async () => (await compareValue('ppv_offered')) === before.offered + 1, 'the new offer counted live');
  assertClose(await cardValue(page, 'revenue-gross'), before.gross, 'an offer alone is no revenue');
  await extension.send({ type: 'new_raw_message', payload: { message: { ...offer, isOpened: true, changedAt: new Date().toISOString() } } });
  await waitFor(async () => close(await cardValue(page, 'revenue-gross'), before.gross + 30), 'the unlock adds $30.00 to the gross live');
  assert((await compareValue('ppv_purchased')) === before.purchased + 1, 'one more purchase');

  // ----------------------------------------------------------------------------- Chatters
  log('Chatters: the leaderboard, its CSV, and the chatters adding up to the gross');
  answer = answerOf(page, '/api/v1/insights/chatters', (q) => !q.get('chatter'));
  await openView('Chatters');
  const board = (await answer).body;
  const rows = page.locator('[data-testid="chatters-table"] tbody tr');
  await waitFor(async () => (await rows.count()) === board.chatters.length, `${board.chatters.length} chatter rows`);
  const named = board.chatters.filter((r) => r.chatter !== 'unassigned' && r.name);
  expectDemo(named.length >= 3, `three named chatters (${JSON.stringify(board.chatters.map((r) => [r.chatter, r.name]))})`);
  assert(
    JSON.stringify(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.chatter))) === JSON.stringify(board.chatters.map((r) => r.chatter)),
    'rows in the server order (revenue descending)',
  );
  const top = board.chatters[0];
  const topRow = rows.first();
  assertClose(await topRow.locator('td[data-label="Revenue"]').getAttribute('data-value'), top.revenue, 'top chatter revenue');
  assert((await topRow.innerText()).includes(money.format(top.revenue)), `top chatter shows ${money.format(top.revenue)}`);
  if (top.reply_time.median_seconds === null) {
    assert((await topRow.locator('td[data-label="Reply median · p90"] .null-value').count()) === 1, 'no replies: a dash with a reason');
  } else {
    const replyCell = topRow.locator('td[data-label="Reply median · p90"]');
    assertClose(await replyCell.getAttribute('data-value'), top.reply_time.median_seconds, 'reply median');
    assertClose(await replyCell.getAttribute('data-p90'), top.reply_time.p90_seconds, 'reply p90');
    assertClose(await topRow.locator('td[data-label="Within SLA"]').getAttribute('data-value'), top.reply_time.within_sla_percentage, 'within SLA');
    assertClose(await topRow.locator('td[data-label="Messages"]').getAttribute('data-value'), top.messages_sent, 'messages sent');
  }
  const sameWindow = `start=${encodeURIComponent(board.window.start)}&end=${encodeURIComponent(board.window.end)}`;
  const gross = await api(server.base, `/api/v1/insights/revenue?account_id=${ACCOUNT}&${sameWindow}`, { token: key });
  if (!missing.length) {
    assertClose(board.chatters.reduce((sum, r) => sum + r.revenue, 0), gross.body.current.gross, "the chatters' revenues add up to the gross");
  }
  const exported = await download(page, 'chatters-csv');
  const exportLines = csvLines(exported.text);
  assert(exportLines.length >= board.chatters.length + 1, `a CSV line per chatter: ${exportLines.length}`);
  assert(/chatter/.test(exportLines[0]), `chatters CSV header: ${exportLines[0]}`);
  if (missing.length || /chatters-table/.test(exported.name)) unverified.add('GET /api/v1/export/chatters: the table was saved client-side');
  if (size.phone) await assertFits(page, '.money-view', 'Chatters');
  else await assertTableFits(page, 'chatters-table');
  await screenshotTall(page, shot('chatters'));

  log('choosing a chatter shows their revenue (Revenue filtered by chatter)');
  const pick = named[0] ?? board.chatters[0];
  pick.name = pick.name ?? (pick.chatter === 'unassigned' ? 'Unassigned' : pick.chatter);
  answer = answerOf(page, '/api/v1/insights/revenue', (q) => q.get('chatter') === pick.chatter);
  await rows.filter({ has: page.locator(`th button`, { hasText: pick.name }) }).first().locator('th button').click();
  const theirs = await answer;
  await page.locator('.filter-bar', { hasText: `Chatter: ${pick.name}` }).waitFor();
  await waitFor(async () => close(await cardValue(page, 'revenue-gross'), theirs.body.current.gross), 'the chatter gross on the card');
  if (!missing.length) {
    const q = theirs.url.searchParams;
    const same = await api(
      server.base,
      `/api/v1/insights/chatters?account_id=${ACCOUNT}&start=${encodeURIComponent(q.get('start'))}&end=${encodeURIComponent(q.get('end'))}&chatter=${encodeURIComponent(pick.chatter)}`,
      { token: key },
    );
    const row = same.body.chatters.find((r) => r.chatter === pick.chatter);
    assertClose(theirs.body.current.gross, row?.revenue ?? 0, `${pick.name}'s filtered gross is their leaderboard revenue`);
  }
  if (size.phone) await assertFits(page, '.money-view', 'Revenue by chatter');
  await screenshotTall(page, shot('revenue-chatter'));

  // --------------------------------------------------------------------------------- Fans
  log('Fans: whales and spenders, last paid, who is waiting now, spend waiting');
  answer = answerOf(page, '/api/v1/insights/fans', (q) => !q.get('tier'));
  await openView('Fans');
  const fans = (await answer).body;
  const fanRows = page.locator('[data-testid="fans-table"] tbody tr');
  // The first 25 rows, then every row the server sent.
  await waitFor(async () => (await fanRows.count()) === Math.min(25, fans.fans.length), 'the first fan rows');
  await screenshotTall(page, shot('fans'));
  if (fans.fans.length > 25) await page.getByRole('button', { name: `Show all ${fans.fans.length} fans` }).click();
  await waitFor(async () => (await fanRows.count()) === fans.fans.length, `${fans.fans.length} fan rows`);
  expectDemo(fans.fans.some((r) => r.tier === 'whale'), 'a few whales');
  assertClose(await cardValue(page, 'fans-spend-waiting'), fans.spend_waiting, 'spend waiting');
  assertClose(await cardValue(page, 'fans-waiting'), fans.fans_waiting, 'fans waiting');
  assert((await page.getByTestId('fans-spend-waiting').innerText()).includes(money.format(fans.spend_waiting)), 'spend waiting in dollars');
  assert((await fanRows.first().getAttribute('data-chat-id')) === fans.fans[0].chat_id, 'the biggest spender first');
  assertClose(await fanRows.first().locator('td[data-label="Lifetime"]').getAttribute('data-value'), fans.fans[0].lifetime_spend, 'lifetime spend');
  const never = fans.fans.findIndex((r) => r.last_paid_at === null);
  if (never >= 0) assert((await fanRows.nth(never).locator('td[data-label="Last paid"] .null-value').count()) === 1, 'never paid: a dash, not a date');
  const waitingNow = fans.fans.filter((r) => r.waiting_seconds !== null);
  const waitingItems = page.locator('[data-testid="fans-waiting-list"] li');
  assert((await waitingItems.count()) === Math.min(8, waitingNow.length), 'the 8 biggest spenders waiting first');
  if (waitingNow.length > 8) await page.getByRole('button', { name: `Show all ${waitingNow.length} waiting fans` }).click();
  assert((await waitingItems.count()) === waitingNow.length, `waiting now: ${waitingNow.length} fans`);
  assert(
    JSON.stringify(await waitingItems.evaluateAll((lis) => lis.map((li) => li.dataset.chatId))) === JSON.stringify(waitingNow.map((r) => r.chat_id)),
    'waiting fans by spend, as the server orders them',
  );
  const fansCsv = await download(page, 'fans-csv');
  assert(csvLines(fansCsv.text).length === fans.fans.length + 1, 'a CSV line per fan');
  if (size.phone) await assertFits(page, '.money-view', 'Fans (every row)');
  else await assertTableFits(page, 'fans-table');

  answer = answerOf(page, '/api/v1/insights/fans', (q) => q.get('tier') === 'whale');
  await page.getByRole('radio', { name: 'Whales' }).click();
  const whales = (await answer).body;
  await waitFor(async () => (await fanRows.count()) === whales.fans.length, 'only whales');
  assert((await fanRows.evaluateAll((trs) => trs.every((tr) => tr.dataset.tier === 'whale'))) === true, 'every row a whale');
  await page.getByRole('radio', { name: 'All' }).click();

  // ------------------------------------------------------------------------ Inbox money
  log("inbox: the fan's tier and lifetime spend on the row and in the chat header");
  const bought = fans.fans.find((r) => r.chat_id === buyer.chat_id);
  assertClose(bought?.lifetime_spend, buyer.lifetime_spend + 30, "the unlock is in the buyer's lifetime spend");
  const spender = waitingNow[0] ?? fans.fans[0];
  const spenderName = spender.fan.name || `@${spender.fan.username}`;
  await page.locator(`[data-testid="fans-table"] tr[data-chat-id="${spender.chat_id}"] th button`).click();
  await page.locator('.conversation-header h2', { hasText: spender.fan.name || spender.fan.username }).waitFor();
  const liveMoney = await page.getByTestId('chat-spend').count();
  if (liveMoney) {
    assertClose(await page.getByTestId('chat-spend').getAttribute('data-value'), spender.lifetime_spend, `${spenderName}'s lifetime spend in the header`);
    await page.locator(`.conversation-header .chip.tier-${spender.tier}`).waitFor();
  } else if (missing.length) {
    unverified.add('inbox: the live nodes carry no lifetime_spend / tier (no money backend)');
  } else {
    throw new Error('the chat header shows no lifetime spend: the live conversation node has no lifetime_spend/tier');
  }
  if (liveMoney && buyer.chat_id !== spender.chat_id) {
    // The unlock's append carried the buyer's new spend to the live node.
    await page.evaluate((chat) => (window.location.hash = `#/inbox?chat=${chat}`), buyer.chat_id);
    await waitFor(
      async () => close(await page.getByTestId('chat-spend').getAttribute('data-value'), buyer.lifetime_spend + 30),
      "the buyer's lifetime spend, live, in the chat header",
    );
  }
  if (size.phone) {
    await assertFits(page, '.conversation-header', 'chat header');
    await page.screenshot({ path: shot('chat-spend') });
    await page.getByRole('button', { name: 'Back to conversations' }).click();
  }
  // Every waiting fan, however old the wait (the demo's waits span weeks).
  await page.getByRole('radio', { name: 'All' }).click();
  await page.getByLabel('Sort conversations').selectOption('spend');
  const waitingSpends = async () =>
    page.locator('ul[aria-label="Waiting for an answer"] .conversation-row').evaluateAll((buttons) =>
      buttons.map((b) => {
        const chip = b.querySelector('.chip.tier');
        return chip?.dataset.spend === undefined ? null : Number(chip.dataset.spend);
      }),
    );
  const spends = await waitingSpends();
  if (liveMoney) {
    assert(spends.length > 1, `several fans waiting in the demo: ${spends.length}`);
    const known = spends.filter((s) => s !== null);
    assert(known.length === spends.length, `every waiting row shows the fan's spend: ${JSON.stringify(spends)}`);
    assert(known.every((s, i) => i === 0 || known[i - 1] >= s), `waiting fans by spend, biggest first: ${JSON.stringify(spends)}`);
    assert((await page.locator('.conversation-row .chip.tier-whale').count()) > 0, 'whales marked on their rows');
  }
  if (size.phone) await assertFits(page, '.inbox-list', 'inbox list');
  await page.screenshot({ path: shot('inbox-spend') });

  // ------------------------------------------------------------------ Insights by chatter
  log('Insights: the chatter filter');
  await openView('Insights');
  answer = answerOf(page, '/api/v1/insights/chatters', (q) => q.get('chatter') === pick.chatter);
  await page.locator('.chatter-field select').selectOption(pick.chatter);
  const mine = (await answer).body.chatters.find((r) => r.chatter === pick.chatter);
  await page.getByTestId('chatter-panel').locator('h2', { hasText: pick.name }).waitFor();
  await waitFor(async () => close(await cardValue(page, 'chatter-revenue'), mine.revenue), `${pick.name}'s revenue in the panel`);
  assertClose(await cardValue(page, 'chatter-messages'), mine.messages_sent, 'messages sent');
  if (mine.reply_time.median_seconds === null) {
    assert((await page.getByTestId('chatter-reply-median').locator('.null-value').count()) === 1, 'no replies: a dash');
  } else {
    assertClose(await cardValue(page, 'chatter-reply-median'), mine.reply_time.median_seconds, 'reply median');
    assertClose(await cardValue(page, 'chatter-sla'), mine.reply_time.within_sla_percentage, 'within SLA');
  }
  if (size.phone) await assertFits(page, '.insights-head, .filter-bar, [data-testid="chatter-panel"]', 'Insights with a chatter');
  await screenshotTall(page, shot('insights-chatter'));
  await page.getByRole('button', { name: /Clear the chatter filter/ }).click();
  await waitFor(async () => (await page.getByTestId('chatter-panel').count()) === 0, 'the panel closes with the filter');

  log('dark theme');
  await page.emulateMedia({ colorScheme: 'dark' });
  await openView('Revenue');
  await page.getByTestId('revenue-gross').waitFor();
  await screenshotTall(page, shot('revenue-dark'));
  await page.emulateMedia({ colorScheme: 'light' });

  // The demo's fans have avatar links on a host that does not resolve here (initials replace them).
  // On fixtures, the chatters export is missing too (404, saved client-side instead).
  const unexpected = pageErrors.filter(
    (e) => !/Failed to load resource: net::ERR_NAME_NOT_RESOLVED/.test(e) && !(missing.length && /status of 404/.test(e)),
  );
  assert(unexpected.length === 0, `no page errors: ${unexpected.join('\n')}`);
  await context.close();
  await server.stop();
}

let failed = false;
try {
  rmSync(join(resultsDir, 'money-failure.png'), { force: true });
  const browser = await launchChromium();
  const sizes = (process.env.E2E_SIZES ?? 'desktop phone').split(/[\s,]+/).filter(Boolean);
  for (const sizeName of sizes) {
    if (!SIZES[sizeName]) throw new Error(`unknown size ${sizeName}`);
    await run(sizeName, browser);
    console.log(`✓ money ${sizeName} (${SIZES[sizeName].width}x${SIZES[sizeName].height}) passed`);
  }
  if (demoGaps.size) {
    failed = true;
    console.error(`✗ the views work, but the demo account lacks (issue 14 item 7):\n  - ${[...demoGaps].join('\n  - ')}`);
  }
  if (unverified.size) {
    failed = true;
    console.error(`✗ money e2e ran on fixtures; NOT verified against the server:\n  - ${[...unverified].join('\n  - ')}`);
  }
  if (!failed) console.log(`✓ money e2e passed; screenshots in ${resultsDir}`);
} catch (error) {
  failed = true;
  console.error(`✗ money e2e failed at "${step}": ${error.stack ?? error}`);
  if (currentPage) {
    await currentPage.screenshot({ path: join(resultsDir, 'money-failure.png') }).catch(() => {});
    console.error(`  screenshot of the page: ${join(resultsDir, 'money-failure.png')}`);
  }
} finally {
  await runCleanups();
}
process.exit(failed ? 1 : 0);
