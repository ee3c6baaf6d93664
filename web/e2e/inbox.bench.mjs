// Benchmark of the live inbox at the full-sync ceiling (500 conversations x 50 messages):
// snapshot-to-screen time, extension-delta-to-screen latency in the browser, and main-thread
// long tasks while 500 rows sit on screen with ticking wait times.
//
//   npm run bench:inbox [-- --chats 500 --messages 50 --deltas 40]
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { api, launchChromium, ofcaCli, openExtension, runCleanups, startServer, tempEnvironment } from './harness.mjs';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .join(' ')
    .split('--')
    .filter(Boolean)
    .map((pair) => pair.trim().split(/\s+/)),
);
const CHATS = Number(args.chats ?? 500);
const PER_CHAT = Number(args.messages ?? 50);
const DELTAS = Number(args.deltas ?? 40);
const ACCOUNT = 'bench-creator';
const CREATOR = 1;
const LINES = [
  'hey gorgeous, how is your day going?',
  'can you make a custom video for me? what is the price',
  'just sent you a tip 💸 you deserve it',
  'thank you babe, that means a lot ❤️',
  'when are you online tonight?',
  'the ppv did not load, I want a refund',
  'renewed my subscription for another month',
  'you look amazing in the new set 😍',
];

function snapshot(now) {
  const chats = [];
  const messages = [];
  for (let c = 0; c < CHATS; c++) {
    const fan = 10_000 + c;
    chats.push({ withUser: { id: fan, name: `Fan ${c}`, username: `fan${c}` } });
    const start = now - (1 + (c % 29)) * 86_400_000;
    for (let m = 0; m < PER_CHAT; m++) {
      // Every other chat ends on a fan message, so half of the inbox is waiting.
      const fromFan = m === PER_CHAT - 1 ? c % 2 === 0 : m % 2 === 0;
      messages.push({
        id: `b-${c}-${m}`,
        chat_id: fan,
        text: LINES[(c + m) % LINES.length],
        createdAt: new Date(start + m * 90_000).toISOString(),
        fromUser: { id: fromFan ? fan : CREATOR },
      });
    }
  }
  return { chats, messages };
}

function quantile(sorted, q) {
  const index = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

async function main() {
  const env = tempEnvironment('ofca-bench-');
  const server = await startServer(env);
  const email = 'bench@example.com';
  const password = 'bench password 123';
  const signup = await api(server.base, '/auth/signup', {
    method: 'POST',
    body: { email, password, account_id: ACCOUNT, account_name: 'Bench' },
  });
  if (signup.status >= 300) throw new Error(`signup: ${signup.status}`);
  const key = ofcaCli(env, ['keys', 'create', '--account', ACCOUNT, '--role', 'extension']);

  const browser = await launchChromium();
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
    }).observe({ type: 'longtask', buffered: true });
    // Which frames arrive while idle (a long task may be a frame, not the ticking badges).
    window.__frames = [];
    const NativeWebSocket = window.WebSocket;
    window.WebSocket = class extends NativeWebSocket {
      constructor(...socketArgs) {
        super(...socketArgs);
        this.addEventListener('message', (event) => {
          const type = /"type":"([a-z_]+)"/.exec(String(event.data).slice(0, 200))?.[1];
          window.__frames.push(`${type}:${Math.round(String(event.data).length / 1024)}kB`);
        });
      }
    };
  });
  await page.goto(server.base + '/');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).last().click();
  await page.locator('.connection[data-phase="live"]').waitFor();

  const extension = await openExtension(server.base.replace(/^http/, 'ws'), ACCOUNT, key);
  // A second dashboard in Node: separates the server's share of the latency from the page's.
  const wsBase = server.base.replace(/^http/, 'ws');
  const probe = new WebSocket(`${wsBase}/ws/frontend/${ACCOUNT}?token=${encodeURIComponent(signup.body.token)}`);
  const appended = new Map();
  probe.on('message', (raw) => {
    const frame = JSON.parse(String(raw));
    if (frame.type === 'append_message') appended.set(frame.payload.message.text, performance.now());
  });
  await new Promise((r) => probe.once('open', r));
  const data = snapshot(Date.now());
  const sent = performance.now();
  await extension.send({ type: 'cache_update', payload: data });
  const acked = performance.now();
  await page.waitForFunction((n) => document.querySelectorAll('.conversation-row').length >= n, CHATS, {
    polling: 'raf',
    timeout: 120_000,
  });
  const shown = performance.now();
  await page.locator('.pill-ok', { hasText: 'Live' }).waitFor({ timeout: 120_000 });
  const enriched = performance.now();

  await page.locator('.conversation-row').nth(3).click();
  // Let the post-enrichment full sync land before measuring the steady state.
  await page.waitForTimeout(5_000);
  await page.evaluate(() => {
    window.__longTasks = [];
    window.__frames = [];
  });
  await page.waitForTimeout(10_000);
  const idleLongTasks = await page.evaluate(() => window.__longTasks);
  const idleFrames = await page.evaluate(() => window.__frames);

  const latencies = [];
  const serverLatencies = [];
  for (let i = 0; i < DELTAS; i++) {
    const fan = 10_000 + ((i * 37) % CHATS);
    const text = `bench delta ${i} ${Math.random().toString(36).slice(2)}`;
    // A MutationObserver in the page resolves as soon as the text is in the list.
    await page.evaluate((needle) => {
      window.__seen = new Promise((resolveSeen) => {
        const list = document.querySelector('.conversation-scroll'); // every group of rows
        const observer = new MutationObserver(() => {
          if (list.textContent.includes(needle)) {
            observer.disconnect();
            resolveSeen(true);
          }
        });
        observer.observe(list, { subtree: true, childList: true, characterData: true });
      });
    }, text);
    const t0 = performance.now();
    await extension.send({
      type: 'new_raw_message',
      payload: {
        message: { id: `d-${i}`, chat_id: fan, text, createdAt: new Date().toISOString(), fromUser: { id: fan } },
      },
    }, false);
    await page.evaluate(() => window.__seen);
    latencies.push(performance.now() - t0);
    if (appended.has(text)) serverLatencies.push(appended.get(text) - t0);
  }
  latencies.sort((a, b) => a - b);
  serverLatencies.sort((a, b) => a - b);
  probe.close();

  const result = {
    conversations: CHATS,
    messages: data.messages.length,
    snapshot_ack_ms: Math.round(acked - sent),
    snapshot_to_inbox_ms: Math.round(shown - sent),
    snapshot_to_live_enriched_ms: Math.round(enriched - sent),
    idle_10s_long_tasks: idleLongTasks.length,
    idle_10s_long_task_ms: Math.round(idleLongTasks.reduce((a, b) => a + b, 0)),
    idle_10s_frames: idleFrames,
    delta_to_screen_ms: {
      n: latencies.length,
      p50: Math.round(quantile(latencies, 0.5)),
      p95: Math.round(quantile(latencies, 0.95)),
      max: Math.round(latencies[latencies.length - 1]),
    },
    delta_to_node_dashboard_ms: {
      n: serverLatencies.length,
      p50: Math.round(quantile(serverLatencies, 0.5)),
      p95: Math.round(quantile(serverLatencies, 0.95)),
    },
  };
  console.log(JSON.stringify(result, null, 2));
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await runCleanups();
}
