// End-to-end: a real ofca server (temp SQLite), real Chromium (Debian's, via playwright-core),
// a real extension socket. Signs up, signs in through the page, feeds a snapshot and then
// deltas through /ws/extension, and checks that the inbox and the insights update without a
// reload. Screenshots of both views land in web/test-results/.
//
//   npm run test:e2e            (OFCA_BIN / CHROMIUM_PATH override the defaults)
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

let step = 'start';
let currentPage = null;

function log(message) {
  step = message;
  console.log(`· ${message}`);
}

async function main() {
  const env = tempEnvironment('ofca-e2e-');
  rmSync(join(resultsDir, 'failure.png'), { force: true });

  log('starting ofca');
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

  log('launching Chromium');
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  const page = await context.newPage();
  currentPage = page;
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
  });
  page.setDefaultTimeout(TIMEOUT);

  log('signing in through the page');
  await page.goto(server.base + '/');
  await page.getByRole('heading', { name: /ofca/i }).or(page.locator('.login-card')).first().waitFor();
  await page.screenshot({ path: join(resultsDir, 'login.png') });
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

  log('feeding a snapshot through the extension socket');
  const extension = await openExtension(wsBase, ACCOUNT_ID, extensionKey);
  const now = Date.now();
  const snapshot = buildSnapshot(now);
  const ingest = await extension.send({ type: 'cache_update', payload: snapshot });
  assert(ingest.accepted === snapshot.messages.length, `snapshot accepted ${JSON.stringify(ingest)}`);

  log('inbox shows the snapshot without a reload');
  const rows = page.locator('.conversation-row');
  await waitFor(async () => (await rows.count()) === FANS.length, `${FANS.length} conversations`);
  // Enrichment and reply runs follow the acknowledgement; the pill turns "Live" when done.
  await page.locator('.pill-ok', { hasText: 'Live' }).waitFor();
  await waitFor(async () => (await page.locator('.conversation-row .wait-badge').count()) === 2, 'two waiting fans');
  // Priority: the fan waiting longest comes first.
  const firstName = await rows.first().locator('.row-name').innerText();
  assert(firstName.startsWith('Mia'), `longest-waiting fan first, got ${firstName}`);
  await waitFor(async () => (await page.locator('.conversation-row .chip.topic').count()) > 0, 'topic chips after enrichment');

  log('opening a conversation');
  await rows.filter({ hasText: 'Jake' }).first().click();
  await page.locator('.conversation-header h2', { hasText: 'Jake' }).waitFor();
  await waitFor(async () => (await page.locator('.message .chip.sentiment').count()) > 0, 'per-message sentiment');

  log('a delta: Dan, quiet for a week, writes and jumps up to the waiting fans');
  const rowOrder = async () => rows.locator('.row-name').allInnerTexts();
  const before = await rowOrder();
  assert(before[before.length - 1].startsWith('Dan'), `Dan last before the delta: ${before}`);
  await extension.send({
    type: 'new_raw_message',
    payload: { message: fanMessage('dan', 'delta-1', now, 'omg that was amazing, sending you a tip 💸') },
  });
  await waitFor(async () => (await rowOrder())[2]?.startsWith('Dan'), 'Dan third (after the longer waits)');
  await rows.filter({ hasText: 'Dan' }).first().locator('.wait-badge').waitFor();
  await rows.filter({ hasText: 'Dan' }).first().locator('.row-preview', { hasText: 'sending you a tip' }).waitFor();
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
      chats: [{ withUser: { id: 9001, name: 'Noah Newfan', username: 'noah' } }],
      messages: [fanMessage('noah', 'new-1', now - 1000, 'hey! just subscribed 😍 what is the price for a custom video?', 9001)],
    },
  });
  await waitFor(async () => (await rows.count()) === FANS.length + 1, 'the new conversation');
  await extension.send({ type: 'online_users_update', payload: { user_ids: [FANS[0].id, 9001] } }, false);
  await waitFor(async () => (await page.locator('.conversation-row .online-dot').count()) === 2, 'online dots');

  log('a reply typed in the dashboard goes out through the extension and ends the wait');
  const commandArrives = extension.next((f) => f.type === 'command_to_execute', 'command_to_execute');
  await page.getByLabel('Reply to Jake Miller').fill('Friday works! Sending the details soon 💌');
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
  await page.screenshot({ path: join(resultsDir, 'inbox.png') });

  log('insights view');
  await page.getByRole('link', { name: /Insights/ }).click();
  const messagesCard = page.locator('[data-testid="overview-messages"] .stat-value');
  await messagesCard.waitFor();
  const initialMessages = Number((await messagesCard.innerText()).replace(/[^\d]/g, ''));
  const expectedMessages = snapshot.messages.length + 4;
  assert(initialMessages === expectedMessages, `overview messages ${initialMessages} (expected ${expectedMessages})`);
  await page.locator('.topics-table tbody tr').first().waitFor();
  await page.locator('.chart svg .trend-point').first().waitFor();
  const replyMean = await page.locator('[data-testid="reply-mean"] .stat-value').innerText();
  assert(replyMean !== '—', 'mean reply time shown');

  log('insights update live after another delta');
  await extension.send({ type: 'new_raw_message', payload: { message: creatorMessage('jake', 'delta-2', Date.now(), 'Aww thank you babe 🥰 check your DMs') } });
  await waitFor(async () => {
    const value = Number((await messagesCard.innerText()).replace(/[^\d]/g, ''));
    return value === expectedMessages + 1;
  }, 'overview messages +1 without reload');
  await screenshotTall(page, join(resultsDir, 'insights.png'));

  log('date range presets and custom dates');
  const thirtyDays = Number((await messagesCard.innerText()).replace(/[^\d]/g, ''));
  await page.getByRole('radio', { name: '7 days' }).click();
  // Dan's week-old messages fall out of a 7-day window.
  await waitFor(async () => Number((await messagesCard.innerText()).replace(/[^\d]/g, '')) < thirtyDays, '7-day window');
  await page.getByRole('radio', { name: 'Custom' }).click();
  await page.getByRole('textbox', { name: 'From' }).waitFor();
  await page.getByLabel('Timezone').selectOption('Europe/Berlin');
  await page.locator('.panel-head', { hasText: 'Europe/Berlin' }).waitFor();
  await page.getByLabel('Timezone').selectOption('UTC');
  await page.getByRole('radio', { name: '30 days' }).click();
  await waitFor(async () => Number((await messagesCard.innerText()).replace(/[^\d]/g, '')) === thirtyDays, 'back to 30 days');

  log('clicking a topic filters the inbox');
  const topicButton = page.locator('.topics-table tbody tr[data-topic="complaints_refunds"] th button');
  const topicLabel = await topicButton.innerText();
  await topicButton.click();
  await page.locator('.filter-chip', { hasText: topicLabel }).waitFor();
  await waitFor(async () => (await rows.count()) === 1, 'only the complaining fan');
  assert((await rows.first().locator('.row-name').innerText()).startsWith('Chris'), 'Chris is the one');
  await page.getByRole('button', { name: /Clear topic filter/ }).click();
  await waitFor(async () => (await rows.count()) === FANS.length + 1, 'filter cleared');

  log('one fan\'s insights from the conversation header');
  await rows.filter({ hasText: 'Chris' }).first().click();
  await page.locator('.conversation-header').getByRole('button', { name: 'Insights' }).click();
  await page.locator('.filter-bar', { hasText: "Fan: Chris O'Neil" }).waitFor();
  await page.locator('.topics-table tbody tr[data-topic="complaints_refunds"]').waitFor();
  await waitFor(
    async () => (await page.locator('.topics-table tbody tr[data-topic="tips_gifts"]').count()) === 0,
    'only the topics of Chris\'s chat',
  );
  await page.getByRole('button', { name: /Show insights for all fans/ }).click();
  await page.locator('.topics-table tbody tr[data-topic="tips_gifts"]').waitFor();
  await page.getByRole('link', { name: /Inbox/ }).click();

  log('dark theme screenshots');
  await page.emulateMedia({ colorScheme: 'dark' });
  await rows.filter({ hasText: 'Mia' }).first().click();
  await page.screenshot({ path: join(resultsDir, 'inbox-dark.png') });
  await page.getByRole('link', { name: /Insights/ }).click();
  await page.locator('.topics-table').waitFor();
  await screenshotTall(page, join(resultsDir, 'insights-dark.png'));

  log('a smaller laptop screen');
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.getByRole('link', { name: /Inbox/ }).click();
  await page.locator('.conversation-header').waitFor();
  await page.screenshot({ path: join(resultsDir, 'inbox-1280.png') });

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
  await rows.filter({ hasText: 'Lena' }).first().locator('.row-preview', { hasText: 'are you there?' }).waitFor();
  assert((await page.locator('.banner-warn').count()) === 0, 'connection banner gone');

  log('signing this session out elsewhere stops live updates with a readable reason');
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('ofca.session.v1')).token);
  if (haveLogin) {
    const out = await api(restarted.base, '/auth/logout', { method: 'POST', token });
    assert(out.status === 200, `logout answered ${out.status}`);
  } else {
    ofcaCli(env, ['keys', 'revoke', '1']);
  }
  await page.locator('.connection[data-phase="error"]').waitFor({ timeout: 60_000 });
  await page.locator('.banner-error', { hasText: 'Live updates stopped' }).waitFor();
  await page.screenshot({ path: join(resultsDir, 'signed-out-elsewhere.png') });
  await page.getByRole('button', { name: 'Sign in again' }).click();
  await page.locator('.login-card').waitFor();

  // Chromium logs failed WebSocket handshakes while ofca was down; those are expected.
  const unexpected = pageErrors.filter((e) => !/WebSocket connection to .* failed/.test(e));
  pageErrors.length = 0;
  pageErrors.push(...unexpected);
  assert(pageErrors.length === 0, `no page errors: ${pageErrors.join('\n')}`);
  console.log(`✓ e2e passed; screenshots in ${resultsDir}`);
}

let failed = false;
try {
  await main();
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
