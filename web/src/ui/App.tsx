import { useCallback, useEffect, useMemo, useState } from 'react';
import {
  loadAccountChoice,
  loadSession,
  logout,
  saveAccountChoice,
  saveSession,
  type Session,
} from '../api/auth';
import { createApi } from '../api/client';
import { sendThroughExtension } from '../api/commands';
import type { RuntimeConfig } from '../config';
import { formatDuration, plural } from '../lib/format';
import { useHashRoute, useNow, useTheme, type ThemeChoice, type View } from '../lib/hooks';

const HORIZON_KEY = 'ofca.inbox.horizon';

/** The chatter's last horizon choice, else the server's default (OFCA_TRIAGE_HORIZON_HOURS). */
function loadHorizon(serverHours: number | undefined): Horizon {
  const stored = localStorage.getItem(HORIZON_KEY);
  if (stored === 'all') return null;
  if (stored === '24' || stored === '168') return Number(stored) as Horizon;
  return horizonFromHours(serverHours);
}
import type { LiveState, ShownError } from '../live/store';
import { useLive } from '../live/useLive';
import { horizonFromHours, triage, type Horizon } from '../lib/triage';
import { EmptyState, Icon, TopicLabels } from './common';
import { Chatters } from './Chatters';
import { Fans } from './Fans';
import { Inbox } from './Inbox';
import { Insights } from './Insights';
import { Login } from './Login';
import { Revenue } from './Revenue';

/** The views after the inbox, in the sidebar and the phone menu. */
const INSIGHT_VIEWS = [
  { view: 'insights', label: 'Insights', icon: 'chart' },
  { view: 'revenue', label: 'Revenue', icon: 'money' },
  { view: 'fans', label: 'Fans', icon: 'fans' },
  { view: 'chatters', label: 'Chatters', icon: 'headset' },
] as const;

const PAGE_TITLES: Record<View, string> = {
  inbox: 'Inbox',
  insights: 'Insights',
  revenue: 'Revenue',
  fans: 'Fans',
  chatters: 'Chatters',
};

const ERROR_TITLES: Record<string, string> = {
  json_parse_error: 'Unreadable message',
  validation_error: 'Invalid data',
  unhandled_type: 'Unsupported message',
  payload_too_large: 'Message too large',
  rate_limited: 'Slow down',
  storage_unavailable: 'Storage unavailable',
  unauthorized: 'Not authorised',
  internal_error: 'Server error',
};

function ConnectionPill({ live, onRetry }: { live: LiveState; onRetry: () => void }) {
  const now = useNow(500);
  const { phase, retryAt } = live.connection;
  const status = live.status;
  let tone = 'neutral';
  let text = 'Offline';
  if (phase === 'connecting') text = 'Connecting…';
  else if (phase === 'syncing') text = 'Syncing…';
  else if (phase === 'reconnecting') {
    tone = 'warn';
    const wait = retryAt ? Math.max(0, (retryAt - now) / 1000) : 0;
    text = retryAt && wait > 0.5 ? `Reconnecting in ${formatDuration(wait)}` : 'Reconnecting…';
  } else if (phase === 'error') {
    tone = 'error';
    text = 'Disconnected';
  } else if (phase === 'live') {
    if (status?.status === 'PROCESSING_SNAPSHOT') {
      tone = 'busy';
      text = status.progress != null ? `Processing snapshot ${Math.round(status.progress * 100)}%` : 'Processing snapshot…';
    } else if (status?.status === 'ERROR') {
      tone = 'warn';
      text = 'Degraded';
    } else {
      tone = 'ok';
      text = 'Live';
    }
  }
  return (
    <div className="connection" role="status" aria-live="polite" data-phase={phase}>
      <span className={`pill pill-${tone}`} title={status?.detail ?? live.connection.reason ?? undefined}>
        <span className="pill-dot" aria-hidden="true" />
        {text}
      </span>
      {phase === 'reconnecting' ? (
        <button type="button" className="ghost small" onClick={onRetry}>
          <Icon name="refresh" size={14} /> Retry now
        </button>
      ) : null}
    </div>
  );
}

function StatusBanner({ live, onSignOut }: { live: LiveState; onSignOut: (remote: boolean) => void }) {
  const { phase, reason } = live.connection;
  const status = live.status;
  if (phase === 'error') {
    return (
      <div className="banner banner-error" role="alert">
        <Icon name="alert" size={16} />
        <span>
          <strong>Live updates stopped.</strong> {reason || 'The server closed the connection.'}
        </span>
        <button type="button" className="ghost small" onClick={() => onSignOut(false)}>
          Sign in again
        </button>
      </div>
    );
  }
  if (phase === 'reconnecting' && live.syncCount > 0) {
    return (
      <div className="banner banner-warn" role="status">
        <Icon name="refresh" size={16} />
        <span>
          Connection lost{reason ? ` (${reason})` : ''}. Showing the last known data; it refreshes as soon as the
          connection is back.
        </span>
      </div>
    );
  }
  if (status?.status === 'PROCESSING_SNAPSHOT') {
    const pct = status.progress != null ? Math.round(status.progress * 100) : null;
    return (
      <div className="banner banner-busy" role="status">
        <span>
          <strong>Processing the extension’s snapshot</strong>
          {status.detail ? ` · ${status.detail}` : ''}
        </span>
        <span
          className="progress"
          role="progressbar"
          aria-label="Snapshot progress"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={pct ?? undefined}
        >
          <span style={{ width: `${pct ?? 30}%` }} className={pct == null ? 'indeterminate' : ''} />
        </span>
        <span className="muted">{pct != null ? `${pct}%` : ''}</span>
      </div>
    );
  }
  if (status?.status === 'ERROR') {
    return (
      <div className="banner banner-warn" role="status">
        <Icon name="alert" size={16} />
        <span>
          <strong>Live delivery is degraded.</strong> {status.detail ?? 'The server reported a problem.'}
        </span>
      </div>
    );
  }
  return null;
}

function ErrorToasts({ errors, onDismiss }: { errors: readonly ShownError[]; onDismiss: (id: number) => void }) {
  if (!errors.length) return null;
  return (
    <div className="toasts" aria-live="assertive">
      {errors.map((error) => (
        <div key={error.id} className="toast" role="alert">
          <Icon name="alert" size={16} />
          <div className="toast-body">
            <strong>{ERROR_TITLES[error.code] ?? 'Error'}</strong>
            <span>{error.errorMessage}</span>
            {error.detail ? <span className="muted">{error.detail}</span> : null}
            <span className="muted small">
              code {error.code}
              {error.retryable ? ' · will be retried' : ''}
            </span>
          </div>
          <button type="button" className="icon-button" onClick={() => onDismiss(error.id)} aria-label="Dismiss">
            <Icon name="close" size={14} />
          </button>
        </div>
      ))}
    </div>
  );
}

const THEME_NEXT: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };
const THEME_ICON = { system: 'monitor', light: 'sun', dark: 'moon' } as const;

function Dashboard({
  config,
  session,
  onSignOut,
}: {
  config: RuntimeConfig;
  session: Session;
  onSignOut: (remote?: boolean) => void;
}) {
  const api = useMemo(() => createApi(config.apiBaseUrl), [config.apiBaseUrl]);
  const [theme, setTheme] = useTheme();
  const [route, navigate] = useHashRoute();
  const accounts = session.accounts;
  const [accountId, setAccountId] = useState<string>(() => {
    const stored = loadAccountChoice();
    return accounts.find((a) => a.account_id === stored)?.account_id ?? accounts[0]?.account_id ?? '';
  });
  const { state: live, dismissError, reconnectNow } = useLive(config.wsBaseUrl, accountId || null, session.token);
  const topicFilter = route.params.get('topic');
  const selectedChat = route.params.get('chat');
  const topicStart = route.params.get('start');
  const topicEnd = route.params.get('end');
  const topicWindow = useMemo(
    () => (topicFilter && topicStart && topicEnd ? { start: topicStart, end: topicEnd } : null),
    [topicFilter, topicStart, topicEnd],
  );
  const [horizon, setHorizon] = useState<Horizon>(() => loadHorizon(config.triageHorizonHours));
  const chooseHorizon = (next: Horizon) => {
    setHorizon(next);
    localStorage.setItem(HORIZON_KEY, next === null ? 'all' : String(next));
  };
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [route.view, accountId]);
  // The inbox's selection and filter survive a visit to the insights view.
  const [lastInbox, setLastInbox] = useState<Record<string, string>>({});
  const inboxKey = route.view === 'inbox' ? route.params.toString() : null;
  useEffect(() => {
    if (inboxKey !== null) setLastInbox(Object.fromEntries(new URLSearchParams(inboxKey)));
  }, [inboxKey]);

  const labels = useMemo(() => {
    const merged: Record<string, string> = { ...config.topicLabels };
    for (const row of live.analytics?.topics.topics ?? []) merged[row.topic] = row.label;
    return merged;
  }, [config.topicLabels, live.analytics]);

  // The badge counts what the inbox lists as waiting: fans who wrote within the horizon.
  const now = useNow(30_000);
  const slaSeconds = live.analytics?.response_time.reply_time.sla_seconds ?? config.replySlaSeconds ?? 300;
  const waiting = useMemo(() => {
    const nodes = live.order.map((id) => live.conversations[id]!).filter(Boolean);
    return triage(nodes, { now, slaSeconds, horizonSeconds: horizon === null ? null : horizon * 3600 }).waiting.length;
  }, [live.order, live.conversations, now, slaSeconds, horizon]);
  const waitingScope = horizon === null ? 'at any time' : horizon === 24 ? 'in the last 24 h' : 'in the last 7 days';

  const inboxParams = (chat: string | null, topic: string | null) => {
    const params: Record<string, string> = {};
    if (topic) params.topic = topic;
    if (topic && topicWindow) {
      params.start = topicWindow.start;
      params.end = topicWindow.end;
    }
    if (chat) params.chat = chat;
    return params;
  };

  const user = session.user;
  const account = accounts.find((a) => a.account_id === accountId);
  // Roles that may command the extension (ofca.domain.auth: owner and dashboard).
  const canSend = !account || ['owner', 'dashboard'].includes(account.role);
  const insightsChatId = route.view === 'insights' ? route.params.get('chat') : null;
  const chatterFilter = route.view === 'insights' || route.view === 'revenue' ? route.params.get('chatter') : null;
  const insightsChatNode = insightsChatId ? live.conversations[insightsChatId] : undefined;
  const insightsChat = insightsChatId
    ? {
        id: insightsChatId,
        name: insightsChatNode?.fan.name || insightsChatNode?.fan.username || `chat ${insightsChatId}`,
      }
    : null;

  if (!accountId) {
    return (
      <main className="login-page">
        <div className="login-card">
          <EmptyState title="No creator account yet" icon={<Icon name="inbox" size={28} />}>
            <p>
              {user?.email ?? 'This login'} is not a member of any creator account. Ask an account owner to
              add you, or sign up again with a creator account name.
            </p>
          </EmptyState>
          <button type="button" className="primary" onClick={() => onSignOut()}>
            Sign out
          </button>
        </div>
      </main>
    );
  }

  return (
    <TopicLabels.Provider value={labels}>
      <div className={`app view-${route.view}${route.view === 'inbox' && selectedChat ? ' chat-open' : ''}`}>
        <a href="#main" className="skip-link">
          Skip to content
        </a>
        <aside className="sidebar">
          <div className="brand">
            <span className="brand-mark" aria-hidden="true">
              o
            </span>
            <span>
              ofca <span className="brand-sub">Bridge</span>
            </span>
          </div>
          <nav aria-label="Views">
            <a
              href="#/inbox"
              className={`nav-item${route.view === 'inbox' ? ' active' : ''}`}
              aria-current={route.view === 'inbox' ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate('inbox', route.view === 'inbox' ? inboxParams(selectedChat, topicFilter) : lastInbox);
              }}
            >
              <Icon name="inbox" />
              <span>Inbox</span>
              {waiting ? (
                <span className="nav-badge" title={`${plural(waiting, 'fan')} waiting for an answer who wrote ${waitingScope}`}>
                  {waiting}
                </span>
              ) : null}
            </a>
            {INSIGHT_VIEWS.map((item) => (
              <a
                key={item.view}
                href={`#/${item.view}`}
                className={`nav-item${route.view === item.view ? ' active' : ''}`}
                aria-current={route.view === item.view ? 'page' : undefined}
                title={item.label}
              >
                <Icon name={item.icon} />
                <span>{item.label}</span>
              </a>
            ))}
          </nav>
          <div className="sidebar-foot muted">
            <span>v{live.ack?.version ?? config.version}</span>
            {config.extensionId ? <span title={config.extensionId}>Extension paired</span> : null}
          </div>
        </aside>
        <div className="main">
          <header className={`topbar${menuOpen ? ' menu-open' : ''}`}>
            <button
              type="button"
              className="icon-button menu-button"
              aria-expanded={menuOpen}
              aria-controls="topbar-menu"
              aria-label="Menu"
              onClick={() => setMenuOpen(!menuOpen)}
            >
              <Icon name="menu" />
              {waiting ? <span className="menu-badge" aria-hidden="true">{waiting}</span> : null}
            </button>
            <h1 className="page-title">{PAGE_TITLES[route.view]}</h1>
            <ConnectionPill live={live} onRetry={reconnectNow} />
            <div className="topbar-right" id="topbar-menu">
              <nav className="menu-nav" aria-label="Views (menu)">
                <a
                  href="#/inbox"
                  className={`nav-item${route.view === 'inbox' ? ' active' : ''}`}
                  aria-current={route.view === 'inbox' ? 'page' : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    setMenuOpen(false);
                    navigate('inbox', route.view === 'inbox' ? inboxParams(null, topicFilter) : lastInbox);
                  }}
                >
                  <Icon name="inbox" />
                  <span>Inbox</span>
                  {waiting ? <span className="nav-badge">{waiting} waiting</span> : null}
                </a>
                {INSIGHT_VIEWS.map((item) => (
                  <a
                    key={item.view}
                    href={`#/${item.view}`}
                    className={`nav-item${route.view === item.view ? ' active' : ''}`}
                    aria-current={route.view === item.view ? 'page' : undefined}
                    onClick={() => setMenuOpen(false)}
                  >
                    <Icon name={item.icon} />
                    <span>{item.label}</span>
                  </a>
                ))}
              </nav>
              {accounts.length > 1 ? (
                <label className="account-switch">
                  <span className="visually-hidden">Account</span>
                  <select
                    value={accountId}
                    onChange={(e) => {
                      setAccountId(e.target.value);
                      saveAccountChoice(e.target.value);
                      navigate(route.view);
                    }}
                  >
                    {accounts.map((a) => (
                      <option key={a.account_id} value={a.account_id}>
                        {a.name || a.account_id} · {a.role}
                      </option>
                    ))}
                  </select>
                </label>
              ) : (
                <span className="account-name" title={account?.role}>
                  {account?.name || accountId}
                </span>
              )}
              <button
                type="button"
                className="icon-button theme-button"
                onClick={() => setTheme(THEME_NEXT[theme])}
                aria-label={`Theme: ${theme}. Switch to ${THEME_NEXT[theme]}`}
                title={`Theme: ${theme}`}
              >
                <Icon name={THEME_ICON[theme]} />
                <span className="menu-only">Theme: {theme}</span>
              </button>
              <button type="button" className="ghost" onClick={() => onSignOut()} title={user?.email ?? 'Sign out'}>
                <Icon name="logout" size={16} />
                <span>Sign out</span>
              </button>
            </div>
          </header>
          <StatusBanner live={live} onSignOut={onSignOut} />
          <main id="main" className="content" tabIndex={-1}>
            {route.view === 'revenue' ? (
              <Revenue
                api={api}
                token={session.token}
                accountId={accountId}
                liveUpdateAt={live.lastUpdateAt}
                chatter={chatterFilter}
                onChatter={(chatter) => navigate('revenue', chatter ? { chatter } : {})}
              />
            ) : route.view === 'fans' ? (
              <Fans
                api={api}
                token={session.token}
                accountId={accountId}
                liveUpdateAt={live.lastUpdateAt}
                slaSeconds={slaSeconds}
                onOpenChat={(chat) => navigate('inbox', { chat })}
              />
            ) : route.view === 'chatters' ? (
              <Chatters
                api={api}
                token={session.token}
                accountId={accountId}
                liveUpdateAt={live.lastUpdateAt}
                onChatter={(chatter) => navigate('revenue', { chatter })}
              />
            ) : route.view === 'insights' ? (
              <Insights
                api={api}
                token={session.token}
                accountId={accountId}
                liveAnalytics={live.analytics}
                liveUpdateAt={live.lastUpdateAt}
                onTopic={(topic, window) => navigate('inbox', { topic, ...(window ?? {}) })}
                chat={insightsChat}
                onClearChat={() => navigate('insights', chatterFilter ? { chatter: chatterFilter } : {})}
                chatter={chatterFilter}
                onChatter={(chatter) =>
                  navigate('insights', { ...(insightsChatId ? { chat: insightsChatId } : {}), ...(chatter ? { chatter } : {}) })
                }
              />
            ) : (
              <Inbox
                live={live}
                api={api}
                token={session.token}
                accountId={accountId}
                horizon={horizon}
                onHorizon={chooseHorizon}
                defaultSlaSeconds={config.replySlaSeconds ?? 300}
                topicFilter={topicFilter}
                topicWindow={topicWindow}
                onClearTopic={() => navigate('inbox', inboxParams(selectedChat, null))}
                selectedChat={selectedChat}
                onSelectChat={(chat) => navigate('inbox', inboxParams(chat, topicFilter))}
                onChatInsights={(chat) => navigate('insights', { chat })}
                send={canSend ? (chat, text) => sendThroughExtension(api, session.token, accountId, chat, text) : undefined}
              />
            )}
          </main>
        </div>
        <ErrorToasts errors={live.errors} onDismiss={dismissError} />
      </div>
    </TopicLabels.Provider>
  );
}

export function App({ config }: { config: RuntimeConfig }) {
  const api = useMemo(() => createApi(config.apiBaseUrl), [config.apiBaseUrl]);
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback((remote: boolean = true) => {
    // After the server refused the credential there is no session left to end remotely.
    if (session && remote) void logout(api, session);
    saveSession(null);
    setSession(null);
    setNotice('You are signed out.');
  }, [api, session]);

  if (!session) {
    return (
      <Login
        api={api}
        notice={notice}
        onSession={(next) => {
          saveSession(next);
          setNotice(null);
          setSession(next);
        }}
      />
    );
  }
  return <Dashboard config={config} session={session} onSignOut={signOut} />;
}
