import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { Api } from '../api/client';
import { listConversations, nodeFromListItem, searchConversations, type SearchResult } from '../api/conversations';
import type { ConversationNode, MessageView } from '../generated/wss';
import {
  DASH,
  dateFormatter,
  formatClock,
  formatDuration,
  formatNumber,
  formatPercent,
  formatWhen,
  parseTime,
  plural,
  secondsSince,
} from '../lib/format';
import { useNow, useTick } from '../lib/hooks';
import { formatMoney, nodeMoney } from '../lib/money';
import { HORIZONS, SORTS, sortOption, triage, triageOrder, type Horizon } from '../lib/triage';
import { conversationTopics, isOnline, type LiveState } from '../live/store';
import { Avatar, EmptyState, Icon, SentimentChip, TierChip, TopicChips, useTopicLabel } from './common';
import { Composer, type SendMessage } from './Composer';

const SORT_KEY = 'ofca.inbox.sort';

/** Debounce of the server search while typing. */
export const SEARCH_DEBOUNCE_MS = 300;

function fanName(node: ConversationNode): string {
  return node.fan.name || node.fan.username || `Fan ${node.fan.id}`;
}

/** Wait severity against the reply SLA: fine, past the SLA, far past it. */
function waitTone(seconds: number, slaSeconds: number): 'ok' | 'late' | 'critical' {
  if (seconds > slaSeconds * 6) return 'critical';
  if (seconds > slaSeconds) return 'late';
  return 'ok';
}

function WaitBadge({ since, slaSeconds, long = false }: { since: string; slaSeconds: number; long?: boolean }) {
  const now = useTick();
  const seconds = secondsSince(since, now) ?? 0;
  return (
    <span className={`wait-badge wait-${waitTone(seconds, slaSeconds)}`} title={`Fan waiting since ${formatClock(since)}`}>
      <Icon name="clock" size={13} />
      <span>
        <span className={long ? undefined : 'visually-hidden'}>Waiting </span>
        {formatDuration(seconds)}
      </span>
    </span>
  );
}

/** True for a moment after ``value`` changes (not on first render): a live update cue. */
function useFlashOnChange(value: string | null): boolean {
  const first = useRef(value);
  const [flash, setFlash] = useState(false);
  useEffect(() => {
    if (value === first.current) return;
    first.current = value;
    setFlash(true);
    const timer = setTimeout(() => setFlash(false), 1600);
    return () => clearTimeout(timer);
  }, [value]);
  return flash;
}

/** The fan's tier and lifetime spend (live fields of the node); nothing from an older server. */
function FanSpend({ node }: { node: ConversationNode }) {
  const money = nodeMoney(node);
  if (!money.known) return null;
  if (money.tier === null) {
    return money.lifetimeSpend === null ? null : <span className="chip tier">{formatMoney(money.lifetimeSpend, { compact: true })}</span>;
  }
  return <TierChip tier={money.tier} spend={money.lifetimeSpend} />;
}

const ConversationRow = memo(function ConversationRow({
  node,
  selected,
  online,
  now,
  slaSeconds,
  onSelect,
  onKeyDown,
}: {
  node: ConversationNode;
  selected: boolean;
  online: boolean;
  now: number;
  slaSeconds: number;
  onSelect: (chatId: string) => void;
  onKeyDown: (event: KeyboardEvent<HTMLButtonElement>, chatId: string) => void;
}) {
  const name = fanName(node);
  const last = node.last_message ?? node.messages[node.messages.length - 1] ?? null;
  const flash = useFlashOnChange(last?.id ?? null);
  const preview = last?.text || (last?.media_count ? `${last.media_count} media` : last ? '(no text)' : 'No messages yet');
  return (
    <li>
      <button
        type="button"
        className={`conversation-row${selected ? ' selected' : ''}${node.unanswered_since ? ' waiting' : ''}${flash ? ' flash' : ''}`}
        aria-current={selected ? 'true' : undefined}
        data-chat-id={node.chat_id}
        onClick={() => onSelect(node.chat_id)}
        onKeyDown={(event) => onKeyDown(event, node.chat_id)}
      >
        <Avatar name={name} seed={String(node.fan.id)} src={node.fan.avatar} online={online} />
        <span className="row-main">
          <span className="row-top">
            <span className="row-name">
              {name}
              {online ? <span className="visually-hidden"> (online)</span> : null}
            </span>
            <span className="row-time">{formatWhen(node.last_activity_at, now)}</span>
          </span>
          <span className="row-preview">
            {last?.direction === 'outbound' ? <span className="row-you">You: </span> : null}
            {preview}
          </span>
          <span className="row-meta">
            {node.unanswered_since ? (
              <WaitBadge since={node.unanswered_since} slaSeconds={slaSeconds} />
            ) : null}
            <FanSpend node={node} />
            {node.sentiment_score != null ? (
              <SentimentChip score={node.sentiment_score} compact scope="Fan sentiment, whole chat" />
            ) : (
              <SentimentChip score={node.session?.sentiment_score} compact scope="Fan sentiment, latest session" />
            )}
            <TopicChips topics={node.topics ?? node.session?.topics ?? []} max={2} />
          </span>
        </span>
      </button>
    </li>
  );
});

function MessageBubble({ message }: { message: MessageView }) {
  const side = message.direction === 'outbound' ? 'out' : message.direction === 'inbound' ? 'in' : 'unknown';
  return (
    <li className={`message message-${side}`} data-message-id={message.id}>
      <div className="bubble">
        {message.text ? <p className="message-text">{message.text}</p> : null}
        {!message.text && message.media_count ? (
          <p className="message-text muted">{message.media_count} media</p>
        ) : null}
        {!message.text && !message.media_count ? <p className="message-text muted">(no text)</p> : null}
        <div className="message-meta">
          {message.is_tip ? <span className="chip money">Tip{message.price ? ` ${formatMoney(message.price, { compact: true })}` : ''}</span> : null}
          {!message.is_tip && message.price && !message.is_free ? (
            <span
              className={`chip money${message.is_opened === false ? ' locked' : ''}`}
              data-testid="ppv-chip"
              title={message.is_opened ? 'Pay-per-view offer, unlocked by the fan' : message.is_opened === false ? 'Pay-per-view offer, not unlocked (yet)' : 'Pay-per-view offer'}
            >
              PPV {formatMoney(message.price, { compact: true })}
              {message.is_opened ? ' · unlocked' : message.is_opened === false ? ' · locked' : ''}
            </span>
          ) : null}
          {message.media_count && message.text ? <span className="chip">{message.media_count} media</span> : null}
          <SentimentChip score={message.sentiment} compact scope="Message sentiment" />
          <TopicChips topics={message.topics ?? []} max={4} />
          <time dateTime={message.created_at ?? undefined} className="message-time">
            {formatClock(message.created_at)}
            {message.changed_at ? ' · edited' : ''}
          </time>
        </div>
      </div>
    </li>
  );
}

/** The chat header's money line: tier and lifetime spend, or why the spend is unknown. */
function FanSpendLine({ node }: { node: ConversationNode }) {
  const money = nodeMoney(node);
  if (!money.known) return null;
  return (
    <p className="fan-spend-line" data-testid="chat-spend" data-value={money.lifetimeSpend ?? ''}>
      <TierChip tier={money.tier} />
      <span>
        Lifetime spend{' '}
        <strong>
          {money.lifetimeSpend === null ? (
            <span className="null-value" title="The server did not compute this fan's spend.">
              {DASH}
            </span>
          ) : (
            formatMoney(money.lifetimeSpend)
          )}
        </strong>
      </span>
    </p>
  );
}

function dayLabel(value: string | null | undefined): string {
  const ms = parseTime(value);
  if (ms === null) return 'Unknown time';
  return dateFormatter({ weekday: 'long', day: 'numeric', month: 'long' }).format(ms);
}

function ConversationView({
  node,
  online,
  slaSeconds,
  onInsights,
  onBack,
  send,
}: {
  node: ConversationNode;
  online: boolean;
  slaSeconds: number;
  onInsights?: (chatId: string) => void;
  onBack: () => void;
  send?: SendMessage;
}) {
  const label = useTopicLabel();
  const name = fanName(node);
  const streamRef = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const lastId = node.messages[node.messages.length - 1]?.id;

  useLayoutEffect(() => {
    const stream = streamRef.current;
    if (stream && stickToBottom.current) stream.scrollTop = stream.scrollHeight;
  }, [lastId, node.chat_id]);

  useEffect(() => {
    stickToBottom.current = true;
  }, [node.chat_id]);

  const session = node.session;
  const groups: { day: string; messages: MessageView[] }[] = [];
  for (const message of node.messages) {
    const day = dayLabel(message.created_at);
    const group = groups[groups.length - 1];
    if (group && group.day === day) group.messages.push(message);
    else groups.push({ day, messages: [message] });
  }

  return (
    <section className="conversation" aria-label={`Conversation with ${name}`}>
      <header className="conversation-header">
        <button type="button" className="icon-button back-button" onClick={onBack} aria-label="Back to conversations">
          <Icon name="back" />
        </button>
        <Avatar name={name} seed={String(node.fan.id)} src={node.fan.avatar} online={online} size={44} />
        <div className="conversation-title">
          <h2>{name}</h2>
          <p className="muted">
            {node.fan.username ? `@${node.fan.username} · ` : ''}
            {online ? <span className="online-text">Online now</span> : 'Offline'}
            {' · '}
            {plural(node.message_count, 'message')}
          </p>
          <FanSpendLine node={node} />
        </div>
        <div className="conversation-status">
          {onInsights ? (
            <button type="button" className="ghost small" onClick={() => onInsights(node.chat_id)}>
              <Icon name="chart" size={14} /> Insights
            </button>
          ) : null}
          {node.unanswered_since ? (
            <WaitBadge since={node.unanswered_since} slaSeconds={slaSeconds} long />
          ) : (
            <span className="answered-badge">Answered</span>
          )}
        </div>
      </header>
      {session ? (
        <dl className="session-stats" aria-label="Latest session">
          <div>
            <dt title="Mean sentiment of all the fan's messages in this chat (the number on the chat's row)">
              Fan sentiment (chat)
            </dt>
            <dd>
              {node.sentiment_score == null ? (
                DASH
              ) : (
                <SentimentChip score={node.sentiment_score} scope="Fan sentiment, whole chat" />
              )}
            </dd>
          </div>
          <div>
            <dt title="Mean sentiment of the fan's messages in the latest session (a gap of more than 30 minutes starts a new session)">
              Latest session
            </dt>
            <dd>
              {session.sentiment_score == null ? (
                DASH
              ) : (
                <SentimentChip score={session.sentiment_score} scope="Fan sentiment, latest session" />
              )}
            </dd>
          </div>
          <div>
            <dt title="Of the latest session">Session length</dt>
            <dd>{formatDuration(session.duration_seconds)}</dd>
          </div>
          <div>
            <dt title="Speaker changes in the latest session">Turns</dt>
            <dd>{formatNumber(session.turns)}</dd>
          </div>
          <div>
            <dt title="Share of the latest session spent in gaps of 2 minutes or more">Silence</dt>
            <dd>{formatPercent(session.silence_percentage)}</dd>
          </div>
          <div className="session-topics">
            <dt>Topics</dt>
            <dd>{session.topics.length ? session.topics.map(label).join(', ') : DASH}</dd>
          </div>
        </dl>
      ) : null}
      <div
        className="message-stream"
        ref={streamRef}
        tabIndex={0}
        aria-label="Messages"
        onScroll={(event) => {
          const el = event.currentTarget;
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
        }}
      >
        {node.messages.length === 0 ? (
          <p className="muted center">
            {node.message_count
              ? `${plural(node.message_count, 'message')} stored; this chat is beyond the ones loaded live (the most urgent and most recent), so its messages are not shown here.`
              : 'No messages stored for this chat yet.'}
          </p>
        ) : (
          groups.map((group) => (
            <div key={group.day} className="day-group">
              <div className="day-divider">
                <span>{group.day}</span>
              </div>
              <ol className="messages" aria-live="polite" aria-relevant="additions">
                {group.messages.map((message) => (
                  <MessageBubble key={message.id} message={message} />
                ))}
              </ol>
            </div>
          ))
        )}
      </div>
      {send ? <Composer key={node.chat_id} chatId={node.chat_id} fanName={name} messages={node.messages} send={send} /> : null}
    </section>
  );
}

/** The window the Insights topic filter was chosen in (the inbox lists that window's chats). */
export interface TopicWindow {
  start: string;
  end: string;
}

function useDebounced<T>(value: T, delayMs: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs]);
  return debounced;
}

type Remote<T> = { state: 'idle' } | { state: 'loading' } | { state: 'done'; value: T } | { state: 'error'; message: string };

/** The server's matches for the search box (every stored message, not only the loaded ones). */
function useServerSearch(api: Api | undefined, token: string, accountId: string, text: string): Remote<SearchResult> {
  const [result, setResult] = useState<Remote<SearchResult>>({ state: 'idle' });
  useEffect(() => {
    if (!text || !api) {
      setResult({ state: 'idle' });
      return;
    }
    const controller = new AbortController();
    setResult({ state: 'loading' });
    searchConversations(api, token, accountId, text, controller.signal)
      .then((value) => setResult({ state: 'done', value }))
      .catch((error: unknown) => {
        if ((error as Error).name !== 'AbortError') setResult({ state: 'error', message: (error as Error).message });
      });
    return () => controller.abort();
  }, [api, token, accountId, text]);
  return result;
}

/** Chat ids with a session having ``topic`` in the Insights window (the server's rule). */
function useTopicChats(
  api: Api | undefined,
  token: string,
  accountId: string,
  topic: string | null,
  window: TopicWindow | null,
): Remote<{ ids: Set<string>; total: number; items: SearchResult['items'] }> {
  const [result, setResult] = useState<Remote<{ ids: Set<string>; total: number; items: SearchResult['items'] }>>({
    state: 'idle',
  });
  const start = window?.start;
  const end = window?.end;
  useEffect(() => {
    if (!topic || !start || !end || !api) {
      setResult({ state: 'idle' });
      return;
    }
    const controller = new AbortController();
    setResult({ state: 'loading' });
    listConversations(api, token, accountId, { topic, start, end }, controller.signal)
      .then((page) =>
        setResult({
          state: 'done',
          value: { ids: new Set(page.items.map((item) => item.chat_id)), total: page.total, items: page.items },
        }),
      )
      .catch((error: unknown) => {
        if ((error as Error).name !== 'AbortError') setResult({ state: 'error', message: (error as Error).message });
      });
    return () => controller.abort();
  }, [api, token, accountId, topic, start, end]);
  return result;
}

function describeWindow(window: TopicWindow): string {
  const fmt = (value: string, shift = 0) =>
    dateFormatter({ day: 'numeric', month: 'short' }).format((parseTime(value) ?? 0) - shift);
  return `${fmt(window.start)} – ${fmt(window.end, 1)}`;
}

export function Inbox({
  live,
  topicFilter,
  topicWindow = null,
  onClearTopic,
  selectedChat,
  onSelectChat,
  onChatInsights,
  send,
  api,
  token = '',
  accountId = '',
  horizon,
  onHorizon,
  defaultSlaSeconds = 300,
}: {
  live: LiveState;
  topicFilter: string | null;
  /** The Insights window of the topic filter; without one, any message's topic counts. */
  topicWindow?: TopicWindow | null;
  onClearTopic: () => void;
  selectedChat: string | null;
  onSelectChat: (chatId: string | null) => void;
  onChatInsights?: (chatId: string) => void;
  send?: SendMessage;
  /** The REST API for the server-side search and topic filter (without it: local only). */
  api?: Api;
  token?: string;
  accountId?: string;
  horizon: Horizon;
  onHorizon: (horizon: Horizon) => void;
  /** The server's SLA (page config) until the live analytics carry it. */
  defaultSlaSeconds?: number;
}) {
  // Wait badges tick on their own; the order (wait against the SLA) is refreshed every 15 s.
  const now = useNow(15_000);
  const label = useTopicLabel();
  const [search, setSearch] = useState('');
  const [waitingOnly, setWaitingOnly] = useState(false);
  // The chatter's last sort choice (e.g. by spend) survives a reload.
  const [sortId, setSortIdState] = useState(() => sortOption(localStorage.getItem(SORT_KEY)).id);
  const setSortId = (id: string) => {
    setSortIdState(id);
    localStorage.setItem(SORT_KEY, id);
  };
  const [showStale, setShowStale] = useState(false);
  const listRef = useRef<HTMLDivElement>(null);
  const slaSeconds = live.analytics?.response_time.reply_time.sla_seconds ?? defaultSlaSeconds;
  const query = useDebounced(search.trim(), SEARCH_DEBOUNCE_MS);
  const searching = search.trim() !== '';
  const searched = useServerSearch(api, token, accountId, query);
  const topicChats = useTopicChats(api, token, accountId, topicFilter, topicWindow);

  // The rows before triage: the loaded chats, or the server's search results.
  const candidates = useMemo(() => {
    let nodes: ConversationNode[];
    if (searching && searched.state === 'done' && query === search.trim()) {
      nodes = searched.value.items.map((item) => live.conversations[item.chat_id] ?? nodeFromListItem(item));
    } else if (searching && (!api || searched.state === 'error')) {
      // No server to ask (or it failed): the loaded chats' names and last messages.
      const needle = search.trim().toLocaleLowerCase();
      nodes = live.order
        .map((id) => live.conversations[id])
        .filter((node): node is ConversationNode => {
          if (!node) return false;
          const hay = [node.fan.name, node.fan.username, node.chat_id, ...node.messages.map((m) => m.text)];
          return hay.filter(Boolean).join(' ').toLocaleLowerCase().includes(needle);
        });
    } else if (searching) {
      nodes = [];
    } else {
      nodes = live.order.map((id) => live.conversations[id]).filter((node): node is ConversationNode => !!node);
    }
    if (topicFilter) {
      if (topicChats.state === 'done') {
        const loaded = new Set(nodes.map((n) => n.chat_id));
        nodes = nodes.filter((n) => topicChats.value.ids.has(n.chat_id));
        if (!searching) {
          for (const item of topicChats.value.items)
            if (!loaded.has(item.chat_id)) nodes.push(nodeFromListItem(item));
        }
      } else if (topicChats.state === 'error' || !topicWindow || !api) {
        // No window (or no server answer): any loaded message's topic.
        nodes = nodes.filter((n) => conversationTopics(n).has(topicFilter));
      } else {
        nodes = [];
      }
    }
    return nodes;
  }, [live.conversations, live.order, searching, searched, query, search, api, topicFilter, topicWindow, topicChats]);

  const horizonSeconds = horizon === null ? null : horizon * 3600;
  const groups = useMemo(
    () => triage(candidates, { now, slaSeconds, horizonSeconds }, sortId),
    [candidates, now, slaSeconds, horizonSeconds, sortId],
  );
  const visible = useMemo(
    () => (waitingOnly ? groups.waiting : triageOrder(groups, showStale)),
    [groups, waitingOnly, showStale],
  );
  const selected = selectedChat ? live.conversations[selectedChat] : undefined;

  // Stable row callbacks (rows are memoized) that always see the latest list.
  const latest = useRef({ visible, onSelectChat });
  latest.current = { visible, onSelectChat };
  const selectRow = useCallback((chatId: string) => latest.current.onSelectChat(chatId), []);
  const rowKeyDown = useCallback((event: KeyboardEvent<HTMLButtonElement>, chatId: string) => {
    const { visible: rows, onSelectChat: select } = latest.current;
    const index = rows.findIndex((row) => row.chat_id === chatId);
    const targets: Record<string, number> = {
      ArrowDown: index + 1,
      ArrowUp: index - 1,
      Home: 0,
      End: rows.length - 1,
    };
    const target = targets[event.key];
    if (target === undefined) return;
    event.preventDefault();
    const next = rows[Math.max(0, Math.min(rows.length - 1, target))];
    if (!next || next.chat_id === chatId) return;
    select(next.chat_id);
    listRef.current?.querySelector<HTMLButtonElement>(`[data-chat-id="${CSS.escape(next.chat_id)}"]`)?.focus();
  }, []);

  const syncing = live.connection.phase !== 'live' && live.syncCount === 0;
  const pending =
    (searching && (searched.state === 'loading' || query !== search.trim()) && !!api) ||
    (!!topicFilter && topicChats.state === 'loading');
  const horizonText = horizon === null ? 'at any time' : horizon === 24 ? 'in the last 24 h' : 'in the last 7 days';

  const renderRows = (nodes: readonly ConversationNode[]) =>
    nodes.map((node) => (
      <ConversationRow
        key={node.chat_id}
        node={node}
        selected={node.chat_id === selectedChat}
        online={isOnline(live, node)}
        now={now}
        slaSeconds={slaSeconds}
        onSelect={selectRow}
        onKeyDown={rowKeyDown}
      />
    ));

  let countText: string;
  if (searching && searched.state === 'done') {
    const { total, capped, items } = searched.value;
    countText = capped
      ? `${plural(total, 'match', 'matches')} on the server; the ${formatNumber(items.length)} most recent shown`
      : plural(total, 'match', 'matches');
  } else if (topicFilter && topicChats.state === 'done') {
    countText = `${plural(topicChats.value.total, 'chat')} with this topic`;
  } else {
    countText = `${formatNumber(visible.length)} of ${plural(live.order.length, 'conversation')}`;
  }

  return (
    <div className={`inbox${selectedChat ? ' has-selection' : ''}`}>
      <section className="inbox-list" aria-label="Conversations">
        <div className="list-toolbar">
          <label className="search">
            <Icon name="search" size={16} />
            <span className="visually-hidden">Search conversations</span>
            <input
              type="search"
              placeholder="Search fans or all messages"
              value={search}
              onChange={(event) => setSearch(event.target.value)}
            />
          </label>
          <div className="list-filters">
            <div className="segmented small" role="radiogroup" aria-label="Waiting since">
              {HORIZONS.map((option) => (
                <button
                  key={option.label}
                  type="button"
                  role="radio"
                  aria-checked={horizon === option.value}
                  className={horizon === option.value ? 'active' : ''}
                  onClick={() => onHorizon(option.value)}
                  title={
                    option.value === null
                      ? 'Every waiting fan counts as waiting'
                      : `Fans waiting longer than ${option.label} go to "Older waits"`
                  }
                >
                  {option.label}
                </button>
              ))}
            </div>
            <label className="sort-field">
              <span className="visually-hidden">Sort</span>
              <select value={sortId} onChange={(event) => setSortId(event.target.value)} aria-label="Sort conversations">
                {SORTS.map((sort) => (
                  <option key={sort.id} value={sort.id}>
                    {sort.label}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <div className="list-filters">
            <button
              type="button"
              className={`toggle${waitingOnly ? ' on' : ''}`}
              aria-pressed={waitingOnly}
              onClick={() => setWaitingOnly(!waitingOnly)}
              title={`Fans waiting for an answer who wrote ${horizonText} (of the conversations listed)`}
            >
              Waiting <span className="count" data-testid="waiting-count">{groups.waiting.length}</span>
            </button>
            {topicFilter ? (
              <span className="chip topic filter-chip">
                <Icon name="filter" size={13} />
                {label(topicFilter)}
                {topicWindow ? <span className="muted"> · {describeWindow(topicWindow)}</span> : null}
                <button type="button" className="chip-close" onClick={onClearTopic} aria-label={`Clear topic filter ${label(topicFilter)}`}>
                  <Icon name="close" size={12} />
                </button>
              </span>
            ) : null}
            <span className="list-count muted" aria-live="polite" data-testid="list-count">
              {pending ? 'Searching…' : countText}
            </span>
          </div>
        </div>
        {syncing ? (
          <ul className="conversation-list skeleton" aria-hidden="true">
            {Array.from({ length: 6 }, (_, i) => (
              <li key={i} className="skeleton-row" />
            ))}
          </ul>
        ) : visible.length === 0 && !groups.stale.length ? (
          <EmptyState
            title={pending ? 'Searching…' : live.order.length ? 'No matching conversations' : 'No conversations yet'}
            icon={<Icon name="chat" size={28} />}
          >
            {pending
              ? null
              : live.order.length
                ? 'Try another search or clear the filters.'
                : 'Chats appear here as soon as the browser extension sends its first snapshot.'}
          </EmptyState>
        ) : (
          <div className="conversation-scroll" ref={listRef}>
            {groups.waiting.length ? (
              <h3 className="list-group-title">
                Waiting {horizonText} <span className="count">{groups.waiting.length}</span>
              </h3>
            ) : null}
            <ul className="conversation-list" aria-label="Waiting for an answer">
              {renderRows(groups.waiting)}
            </ul>
            {!waitingOnly && groups.others.length ? (
              <>
                <h3 className="list-group-title">
                  {searching || topicFilter ? 'Other matches' : 'Recent conversations'}
                </h3>
                <ul className="conversation-list" aria-label="Other conversations">
                  {renderRows(groups.others)}
                </ul>
              </>
            ) : null}
            {!waitingOnly && groups.stale.length ? (
              <div className="stale-group">
                <button
                  type="button"
                  className="list-group-title stale-toggle"
                  aria-expanded={showStale}
                  onClick={() => setShowStale(!showStale)}
                >
                  <Icon name={showStale ? 'arrowUp' : 'arrowDown'} size={13} />
                  Older waits <span className="count">{groups.stale.length}</span>
                  <span className="muted"> · waiting longer than {horizon === 24 ? '24 h' : '7 days'}</span>
                </button>
                {showStale ? (
                  <ul className="conversation-list" aria-label="Older waits">
                    {renderRows(groups.stale)}
                  </ul>
                ) : null}
              </div>
            ) : null}
          </div>
        )}
      </section>
      <div className="inbox-detail">
        {selected ? (
          <ConversationView
            node={selected}
            online={isOnline(live, selected)}
            slaSeconds={slaSeconds}
            onInsights={onChatInsights}
            onBack={() => onSelectChat(null)}
            send={send}
          />
        ) : selectedChat ? (
          <EmptyState title="Conversation not loaded" icon={<Icon name="inbox" size={28} />}>
            <p>This chat is beyond the conversations loaded live (the most urgent and most recent).</p>
            <button type="button" className="ghost back-button-inline" onClick={() => onSelectChat(null)}>
              <Icon name="back" size={14} /> Back to conversations
            </button>
          </EmptyState>
        ) : (
          <EmptyState title="Select a conversation" icon={<Icon name="inbox" size={28} />}>
            Fans waiting {horizonText} are at the top: first those still within the reply SLA (
            {formatDuration(slaSeconds)}), closest to missing it first, then those past it, the most recent
            first. Use ↑ and ↓ to move through the list.
          </EmptyState>
        )}
      </div>
    </div>
  );
}
