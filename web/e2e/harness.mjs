// Shared by the e2e test and the inbox benchmark: a real ofca server on a temp SQLite file,
// Debian's Chromium through playwright-core (never a downloaded browser), and an extension
// client on /ws/extension.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

export const webRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const resultsDir = join(webRoot, 'test-results');
export const ofcaBin = process.env.OFCA_BIN ?? resolve(webRoot, '../.venv/bin/ofca');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const TIMEOUT = 20_000;

/** Cleanup callbacks, run in reverse order by runCleanups(). */
export const cleanups = [];

export async function runCleanups() {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch {
      // best effort
    }
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

export async function waitFor(check, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
}

/** The app scrolls inside its content pane, so grow the viewport to show a whole view. */
export async function screenshotTall(page, path) {
  const size = page.viewportSize();
  const height = await page.locator('.content').evaluate((el) => el.scrollHeight + el.getBoundingClientRect().top);
  await page.setViewportSize({ width: size.width, height: Math.max(size.height, Math.ceil(height)) });
  await page.screenshot({ path });
  await page.setViewportSize(size);
}

export async function startServer(env, fixedPort) {
  const port = fixedPort ?? (await freePort());
  const child = spawn(ofcaBin, ['serve', '--port', String(port)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          r();
        });
      });
    }
  };
  cleanups.push(stop);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`ofca exited (${child.exitCode}):\n${output}`);
    const response = await fetch(`${base}/health`);
    return response.status === 200;
  }, 'ofca /health', 60_000);
  return { base, port, stop, output: () => output };
}

export async function api(base, path, { method = 'GET', token, body } = {}) {
  const response = await fetch(base + path, {
    method,
    headers: {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** The extension side: a socket that sends frames and waits for the server's answers. */
export async function openExtension(wsBase, accountId, key) {
  const socket = new WebSocket(`${wsBase}/ws/extension/${accountId}?token=${encodeURIComponent(key)}`);
  const frames = [];
  const waiters = [];
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data));
    frames.push(frame);
    for (const waiter of [...waiters]) {
      if (waiter.match(frame)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    }
  });
  const next = (match, what) =>
    new Promise((resolveFrame, reject) => {
      const timer = setTimeout(() => reject(new Error(`extension: no ${what}`)), TIMEOUT);
      waiters.push({
        match,
        resolve: (frame) => {
          clearTimeout(timer);
          resolveFrame(frame);
        },
      });
    });
  const ack = next((f) => f.type === 'connection_ack', 'connection_ack');
  await new Promise((r, reject) => {
    socket.once('open', r);
    socket.once('error', reject);
  });
  await ack;
  cleanups.push(async () => socket.close());
  return {
    frames,
    /** The next frame matching ``match`` (e.g. a command_to_execute for the extension). */
    next,
    async send(frame, expectAck = true) {
      const acked = expectAck
        ? next((f) => f.type === 'ingest_ack' || f.type === 'system_error', `ack of ${frame.type}`)
        : null;
      socket.send(JSON.stringify(frame));
      if (!acked) return null;
      const answer = await acked;
      if (answer.type === 'system_error') throw new Error(`extension got ${JSON.stringify(answer.payload)}`);
      return answer.payload;
    },
  };
}

export function ofcaCli(env, args) {
  return execFileSync(ofcaBin, args, {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
}

/** A fresh temp directory and the OFCA_* environment of a server using it. */
export function tempEnvironment(prefix) {
  mkdirSync(resultsDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  return {
    OFCA_DATABASE_URL: `sqlite:///${join(work, 'ofca.sqlite')}`,
    OFCA_LOG_LEVEL: 'WARNING',
    OFCA_REDIS_URL: '',
    OFCA_IP_RATE_LIMIT_PER_MINUTE: '100000',
    OFCA_REST_RATE_LIMIT_PER_MINUTE: '100000',
    OFCA_WS_FRAMES_PER_MINUTE: '100000',
  };
}

export async function launchChromium() {
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  cleanups.push(async () => browser.close());
  return browser;
}
