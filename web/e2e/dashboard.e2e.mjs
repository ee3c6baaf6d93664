// End-to-end: a real ofca server (temp SQLite), real Chromium (Debian's, via playwright-core),
// a real extension socket. Signs up, signs in through the page, feeds a snapshot and then
// deltas through /ws/extension, and checks that the inbox (triage order, server search,
// window-scoped topic filter) and the insights (charts over time) update without a reload.
// The whole flow runs twice: on a laptop (1440x900) and on a phone (390x844, where the chat is
// its own screen and the top bar is a menu). Screenshots land in web/test-results/, named
// desktop-*.png and phone-*.png.
//
//   npm run test:e2e            (OFCA_BIN / CHROMIUM_PATH override the defaults;
//                                E2E_SIZES=phone runs one size)
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ACCOUNT_ID, CREATOR_ID, FANS, buildSnapshot, creatorMessage, fanMessage } from './fixtures.mjs';
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
import { mockMissingTrends } from './trends.mjs';

const SIZES = {
  desktop: { width: 1440, height: 900, phone: false },
  phone: { width: 390, height: 844, phone: true },
};

let step = 'start';
let currentPage = null;

function log(message) {
  step = message;
  console.log(`· ${message}`);
}

async function run(sizeName, browser) {
  const size = SIZES[sizeName];
  const shot = (name) => join(resultsDir, `${sizeName}-${name}.png`);
  const env = tempEnvironment('ofca-e2e-');

  log(`[${sizeName}] starting ofca`);
  const server = await startServer(env);
  const wsBase = server.base.replace(/^http/, 'ws');

  log('signing up a user who owns the account');
  const email = 'manager@example.com';
  const password = 'correct horse battery staple';
  const signup = await api(server.base, '/auth/signup', {
    method: 'POST',
    body: { email, password, name: 'Agency Manager', account_id: ACCOUNT_ID, account_name: 'Luna Rose' },
  });
  const haveLogin = signup.status === 201 || signup.status === 200;
  let dashboardKey = null;
  if (!haveLogin) {
    console.log(`  (signup answered ${signup.status}; signing in with a dashboard key instead)`);
    dashboardKey = ofcaCli(env, ['keys', 'create', '--account', ACCOUNT_ID, '--role', 'dashboard']);
  }
  const extensionKey = ofcaCli(env, ['keys', 'create', '--account', ACCOUNT_ID, '--role', 'extension']);

  const context = await browser.newContext({
    viewport: { width: size.width, height: size.height },
    colorScheme: 'light',
    isMobile: size.phone,
    hasTouch: size.phone,
    deviceScaleFactor: size.phone ? 2 : 1,
  });
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
      await page.locator('.menu-nav').getByRole('link', { name: new RegExp(name) }).click();
    } else {
      await page.locator('.sidebar').getByRole('link', { name: new RegExp(name) }).click();
    }
  };
  const rows = page.locator('.conversation-row');
  /** Opens a chat from the list (on a phone, back to the list first). */
  const openChat = async (name) => {
    const row = rows.filter({ hasText: name }).first();
    if (size.phone) {
      // The inbox may show its selected chat a moment after the view opens,
      // so look until the list is on screen rather than checking once.
      const back = page.getByRole('button', { name: 'Back to conversations' });
      await waitFor(async () => {
        if (await row.isVisible()) return true;
        if (await back.isVisible()) await back.click({ timeout: 2_000 }).catch(() => {});
        return false;
      }, `the conversation list showing ${name}`);
    }
    await row.click();
    await page.locator('.conversation-header h2', { hasText: name }).waitFor();
  };

  log('signing in through the page (the password rule shows before the server is asked)');
  await page.goto(server.base + '/');
  await page.locator('.login-card').waitFor();
  await page.getByRole('tab', { name: 'Sign up' }).click();
  await page.getByLabel('Password').fill('8chars!!');
  await page.locator('#password-rule', { hasText: 'At least 10 characters (2 more)' }).waitFor();
  await page.screenshot({ path: shot('signup-rule') });
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.screenshot({ path: shot('login') });
  if (haveLogin) {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).last().click();
  } else {
    await page.getByRole('tab', { name: 'API key' }).click();
    await page.getByLabel('Dashboard or owner key').fill(dashboardKey);
    await page.getByLabel(/Account id/).fill(ACCOUNT_ID);
    await page.getByRole('button', { name: 'Open dashboard' }).click();
  }
  await page.locator('.connection[data-phase="live"]').waitFor();
  await page.getByText('No conversations yet').waitFor();
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('ofca.session.v1')).token);
  const mocked = await mockMissingTrends(context, server.base, token, ACCOUNT_ID);
  if (mocked.length) console.log(`  (no ${mocked.join(', ')} on this server yet: charts use route fixtures)`);

  log('feeding a snapshot through the extension socket');
  const extension = await openExtension(wsBase, ACCOUNT_ID, extensionKey);
  const now = Date.now();
  const snapshot = buildSnapshot(now);
  const ingest = await extension.send({ type: 'cache_update', payload: snapshot });
  assert(ingest.accepted === snapshot.messages.length, `snapshot accepted ${JSON.stringify(ingest)}`);

  log('inbox shows the snapshot in triage order without a reload');
  await waitFor(async () => (await rows.count()) === FANS.length, `${FANS.length} conversations`);
  // Enrichment and reply runs follow the acknowledgement; the pill turns "Live" when done.
  await page.locator('.pill-ok', { hasText: 'Live' }).waitFor();
  await waitFor(async () => (await page.locator('.conversation-row .wait-badge').count()) === 2, 'two waiting fans');
  // Both waits are past the 5-minute SLA: the freshest first (Sam, 22 min) before Mia (3 h).
  const rowOrder = async () => rows.locator('.row-name').allInnerTexts();
  await waitFor(async () => (await rowOrder())[0]?.startsWith('Sam'), 'the freshest late wait first');
  assert((await rowOrder())[1].startsWith('Mia'), `Mia second: ${await rowOrder()}`);
  assert((await page.getByTestId('waiting-count').innerText()) === '2', 'waiting count is what the list shows');
  await waitFor(async () => (await page.locator('.conversation-row .chip.topic').count()) > 0, 'topic chips after enrichment');
  await page.screenshot({ path: shot('inbox-list') });

  log('list -> chat -> back -> chat (a phone shows one at a time)');
  await openChat('Jake');
  await waitFor(async () => (await page.locator('.message .chip.sentiment').count()) > 0, 'per-message sentiment');
  if (size.phone) {
    assert(!(await page.locator('.inbox-list').isVisible()), 'the list is hidden behind the chat on a phone');
    await page.screenshot({ path: shot('chat') });
    await page.getByRole('button', { name: 'Back to conversations' }).click();
    await page.locator('.inbox-list').waitFor({ state: 'visible' });
    assert(!(await page.locator('.conversation-header').isVisible()), 'back shows the list alone');
    await openChat('Jake');
  }

  log('a delta: Dan, quiet for a week, writes and goes to the top (within the SLA)');
  const before = await rowOrder();
  assert(before[before.length - 1].startsWith('Dan'), `Dan last before the delta: ${before}`);
  await extension.send({
    type: 'new_raw_message',
    payload: { message: fanMessage('dan', 'delta-1', now, 'omg that was amazing, sending you a tip 💸') },
  });
  await waitFor(async () => (await rowOrder())[0]?.startsWith('Dan'), 'Dan first: a fresh wait within the SLA');
  await rows.filter({ hasText: 'Dan' }).first().locator('.wait-badge').waitFor({ state: 'attached' });
  await rows.filter({ hasText: 'Dan' }).first().locator('.row-preview', { hasText: 'sending you a tip' }).waitFor({ state: 'attached' });
  // The open conversation updates in place too.
  await extension.send({
    type: 'new_raw_message',
    payload: { message: fanMessage('jake', 'delta-jake', now, 'can I get a custom set for Friday?') },
  });
  await page.locator('.message-text', { hasText: 'custom set for Friday' }).waitFor();
  await page.locator('.conversation-header .wait-badge').waitFor();

  log('a delta from a brand-new fan, and online fans marked');
  await extension.send({
    type: 'cache_update',
    payload: {
      chats: [{ withUser: { id: 9001, name: 'Noah Newfan', username: 'noah', avatar: `${server.base}/no-such-avatar.jpg` } }],
      messages: [fanMessage('noah', 'new-1', now - 1000, 'hey! just subscribed 😍 what is the price for a custom video?', 9001)],
    },
  });
  await waitFor(async () => (await rows.count()) === FANS.length + 1, 'the new conversation');
  await extension.send({ type: 'online_users_update', payload: { user_ids: [FANS[0].id, 9001] } }, false);
  await waitFor(async () => (await page.locator('.conversation-row .online-dot').count()) === 2, 'online dots');

  log('a fan waiting for three days is an older wait, in its own collapsed group');
  await extension.send({
    type: 'cache_update',
    payload: {
      chats: [{ withUser: { id: 9002, name: 'Olga Oldwait', username: 'olga' } }],
      messages: [fanMessage('olga', 'old-1', now - 3 * 86_400_000, 'hello? anyone there?', 9002)],
    },
  });
  const staleToggle = page.locator('.stale-toggle');
  await staleToggle.filter({ hasText: 'Older waits' }).waitFor({ state: 'attached' });
  assert((await rows.count()) === FANS.length + 1, 'the older wait stays collapsed');
  assert((await page.getByTestId('waiting-count').innerText()) === '5', 'waiting: Dan, Jake, Noah, Sam, Mia (not Olga)');

  log('a reply typed in the dashboard goes out through the extension and ends the wait');
  if (size.phone) await openChat('Jake');
  const commandArrives = extension.next((f) => f.type === 'command_to_execute', 'command_to_execute');
  const composer = page.getByLabel('Reply to Jake Miller');
  await composer.fill('Friday works! Sending the details soon 💌');
  if (size.phone) {
    const box = await composer.boundingBox();
    assert(box && box.y + box.height <= size.height, `composer on screen: ${JSON.stringify(box)}`);
  }
  await page.keyboard.press('Enter');
  await page.locator('.pending', { hasText: 'Friday works' }).waitFor();
  const command = await commandArrives;
  assert(String(command.payload.chat_id) === '103', `command for Jake's chat: ${JSON.stringify(command.payload)}`);
  // The extension posts it on the platform and reports its own outbound message back.
  await extension.send({
    type: 'new_raw_message',
    payload: {
      message: {
        id: 'reply-1',
        chat_id: 103,
        text: command.payload.text,
        createdAt: new Date().toISOString(),
        fromUser: { id: CREATOR_ID },
      },
    },
  });
  await page.locator('.message-out .message-text', { hasText: 'Friday works' }).waitFor();
  await waitFor(async () => (await page.locator('.pending').count()) === 0, 'pending reply confirmed');
  await page.locator('.conversation-header .answered-badge').waitFor();
  await page.locator('.message-stream').evaluate((el) => (el.scrollTop = el.scrollHeight));
  await page.screenshot({ path: shot('inbox') });
  if (size.phone) await page.getByRole('button', { name: 'Back to conversations' }).click();

  log('a dead avatar link shows the initials instead of a broken image');
  await rows.filter({ hasText: 'Noah' }).first().locator('.avatar-initials', { hasText: 'NN' }).waitFor();

  log('search asks the server: every message, not only the last one');
  const search = page.getByPlaceholder('Search fans or all messages');
  // "refund" is in Chris's older messages; his last message is the creator's "Glad it works!".
  await search.fill('refund');
  await waitFor(async () => (await page.getByTestId('list-count').innerText()) === '1 match', 'one server match');
  await waitFor(async () => (await rows.count()) === 1, 'one row');
  assert((await rows.first().locator('.row-name').innerText()).startsWith('Chris'), 'Chris matches "refund"');
  await search.fill('lena');
  await waitFor(async () => (await rows.count()) === 1 && (await rows.first().innerText()).includes('Lena'), 'fan name search');
  await search.fill('');
  await waitFor(async () => (await rows.count()) === FANS.length + 1, 'search cleared');

  log('insights view with charts over time');
  await openView('Insights');
  const messagesCard = page.locator('[data-testid="overview-messages"] .stat-value');
  await messagesCard.waitFor();
  const expectedMessages = snapshot.messages.length + 5;
  await waitFor(
    async () => Number((await messagesCard.innerText()).replace(/[^\d]/g, '')) === expectedMessages,
    `overview messages ${expectedMessages}`,
  );
  await page.locator('.topics-table tbody tr').first().waitFor();
  await page.locator('.chart svg .trend-point').first().waitFor();
  const replyMean = await page.locator('[data-testid="reply-mean"] .stat-value').innerText();
  assert(replyMean !== '—', 'mean reply time shown');
  assert((await page.locator('[data-testid="overview-sessions"] .stat-label').innerText()).startsWith('Sessions'), 'sessions are called sessions');
  await page.locator('[data-testid="reply-time-chart"] .series-median >> visible=true').first().waitFor();
  await page.locator('[data-testid="reply-time-chart"] .series-p90 >> visible=true').first().waitFor();
  await page.locator('[data-testid="volume-chart"] rect.bar.series-inbound').first().waitFor();
  assert((await page.locator('[data-testid="activity-heatmap"] .heatmap-cell').count()) === 168, 'a 7 x 24 heatmap');
  if (size.phone) {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `no sideways scrolling on a phone (${overflow}px too wide)`);
    const chart = await page.locator('[data-testid="reply-time-chart"] svg').boundingBox();
    assert(chart && chart.width <= size.width, `the chart fits the phone: ${JSON.stringify(chart)}`);
  }

  log('insights update live after another delta');
  await extension.send({ type: 'new_raw_message', payload: { message: creatorMessage('jake', 'delta-2', Date.now(), 'Aww thank you babe 🥰 check your DMs') } });
  await waitFor(async () => {
    const value = Number((await messagesCard.innerText()).replace(/[^\d]/g, ''));
    return value === expectedMessages + 1;
  }, 'overview messages +1 without reload');
  await screenshotTall(page, shot('insights'));

  log('date range presets and custom dates');
  const thirtyDays = Number((await messagesCard.innerText()).replace(/[^\d]/g, ''));
  await page.getByRole('radio', { name: '7 days' }).click();
  // Dan's week-old messages fall out of a 7-day window.
  await waitFor(async () => Number((await messagesCard.innerText()).replace(/[^\d]/g, '')) < thirtyDays, '7-day window');
  await page.getByRole('radio', { name: 'Custom' }).click();
  await page.getByRole('textbox', { name: 'From' }).waitFor();
  await page.getByLabel('Timezone').selectOption('Europe/Berlin');
  await page.locator('.panel-head', { hasText: 'Europe/Berlin' }).first().waitFor();
  await page.getByLabel('Timezone').selectOption('UTC');
  await page.getByRole('radio', { name: '30 days' }).click();
  await waitFor(async () => Number((await messagesCard.innerText()).replace(/[^\d]/g, '')) === thirtyDays, 'back to 30 days');

  log('a topic lists the chats with a session having it in the same window');
  const topicButton = page.locator('.topics-table tbody tr[data-topic="complaints_refunds"] th button');
  const topicLabel = await topicButton.innerText();
  await topicButton.click();
  await page.locator('.filter-chip', { hasText: topicLabel }).waitFor();
  await page.getByTestId('list-count').filter({ hasText: '1 chat with this topic' }).waitFor();
  await waitFor(
    async () => (await rowOrder()).length === 1 && (await rowOrder())[0].startsWith('Chris'),
    'only the complaining fan, Chris',
  ).catch(async (error) => {
    throw new Error(`${error.message}; rows: ${JSON.stringify(await rowOrder())}`);
  });
  assert(/start=/.test(page.url()) && /end=/.test(page.url()), `the window travels with the topic: ${page.url()}`);
  await page.getByRole('button', { name: /Clear topic filter/ }).click();
  await waitFor(async () => (await rows.count()) === FANS.length + 1, 'filter cleared');
  // Chris's complaint is 4 days old: in a 7-day window still, not in a 1-day one.
  await openView('Insights');
  await page.getByRole('radio', { name: '7 days' }).click();
  await page.locator('.topics-table tbody tr[data-topic="complaints_refunds"]').waitFor();
  await page.getByRole('radio', { name: '30 days' }).click();

  log('one fan\'s insights from the conversation header');
  await openView('Inbox');
  await openChat('Chris');
  await page.locator('.conversation-header').getByRole('button', { name: 'Insights' }).click();
  await page.locator('.filter-bar', { hasText: "Fan: Chris O'Neil" }).waitFor();
  await page.locator('.topics-table tbody tr[data-topic="complaints_refunds"]').waitFor();
  await waitFor(
    async () => (await page.locator('.topics-table tbody tr[data-topic="tips_gifts"]').count()) === 0,
    'only the topics of Chris\'s chat',
  );
  await page.getByRole('button', { name: /Show insights for all fans/ }).click();
  await page.locator('.topics-table tbody tr[data-topic="tips_gifts"]').waitFor();
  if (size.phone) {
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.locator('.menu-nav').waitFor();
    await page.screenshot({ path: shot('menu') });
    await page.getByRole('button', { name: 'Menu' }).click();
  }
  await openView('Inbox');

  log('dark theme screenshots');
  await page.emulateMedia({ colorScheme: 'dark' });
  await openChat('Mia');
  await page.screenshot({ path: shot('inbox-dark') });
  await openView('Insights');
  await page.locator('.topics-table').waitFor();
  await screenshotTall(page, shot('insights-dark'));
  await page.emulateMedia({ colorScheme: 'light' });

  if (!size.phone) {
    log('a smaller laptop screen');
    await page.setViewportSize({ width: 1280, height: 720 });
    await openView('Inbox');
    await page.locator('.conversation-header').waitFor();
    await page.screenshot({ path: shot('inbox-1280') });
    await page.setViewportSize({ width: size.width, height: size.height });
  } else {
    await openView('Inbox');
  }

  log('the server restarts: the dashboard reconnects by itself and re-syncs');
  await server.stop();
  await page.locator('.connection[data-phase="reconnecting"]').waitFor();
  await page.locator('.banner-warn', { hasText: 'Connection lost' }).waitFor();
  const restarted = await startServer(env, server.port);
  const extensionAgain = await openExtension(restarted.base.replace(/^http/, 'ws'), ACCOUNT_ID, extensionKey);
  await extensionAgain.send({
    type: 'new_raw_message',
    payload: { message: fanMessage('lena', 'after-restart', Date.now(), 'are you there? 👀') },
  });
  await page.locator('.connection[data-phase="live"]').waitFor({ timeout: 45_000 });
  await waitFor(async () => (await rows.count()) === FANS.length + 1, 'all conversations after the re-sync');
  await rows.filter({ hasText: 'Lena' }).first().locator('.row-preview', { hasText: 'are you there?' }).waitFor({ state: 'attached' });
  assert((await page.locator('.banner-warn').count()) === 0, 'connection banner gone');

  log('signing this session out elsewhere stops live updates with a readable reason');
  if (haveLogin) {
    const out = await api(restarted.base, '/auth/logout', { method: 'POST', token });
    assert(out.status === 200, `logout answered ${out.status}`);
  } else {
    ofcaCli(env, ['keys', 'revoke', '1']);
  }
  await page.locator('.connection[data-phase="error"]').waitFor({ timeout: 60_000 });
  await page.locator('.banner-error', { hasText: 'Live updates stopped' }).waitFor();
  await page.screenshot({ path: shot('signed-out-elsewhere') });
  await page.getByRole('button', { name: 'Sign in again' }).click();
  await page.locator('.login-card').waitFor();

  // Chromium logs failed WebSocket handshakes while ofca was down, and the dead avatar link
  // of the new fan (the initials replace it); those are expected.
  const unexpected = pageErrors.filter(
    (e) => !/WebSocket connection to .* failed/.test(e) && !/no-such-avatar|Failed to load resource/.test(e),
  );
  assert(unexpected.length === 0, `no page errors: ${unexpected.join('\n')}`);
  await context.close();
  await restarted.stop();
}

let failed = false;
try {
  rmSync(join(resultsDir, 'failure.png'), { force: true });
  const browser = await launchChromium();
  const sizes = (process.env.E2E_SIZES ?? 'desktop phone').split(/[\s,]+/).filter(Boolean);
  for (const sizeName of sizes) {
    if (!SIZES[sizeName]) throw new Error(`unknown size ${sizeName}`);
    await run(sizeName, browser);
    console.log(`✓ ${sizeName} (${SIZES[sizeName].width}x${SIZES[sizeName].height}) passed`);
  }
  console.log(`✓ e2e passed; screenshots in ${resultsDir}`);
} catch (error) {
  failed = true;
  console.error(`✗ e2e failed at "${step}": ${error.stack ?? error}`);
  if (currentPage) {
    await currentPage.screenshot({ path: join(resultsDir, 'failure.png') }).catch(() => {});
    console.error(`  screenshot of the page: ${join(resultsDir, 'failure.png')}`);
  }
} finally {
  await runCleanups();
}
process.exit(failed ? 1 : 0);
