import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
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
  secondsSince,
} from '../lib/format';
import { useNow, useTick } from '../lib/hooks';
import { isOnline, visibleConversations, type LiveState } from '../live/store';
import { Avatar, EmptyState, Icon, SentimentChip, TopicChips, useTopicLabel } from './common';
import { Composer, type SendMessage } from './Composer';

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
            <SentimentChip score={node.sentiment_score ?? node.session?.sentiment_score} compact />
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
          {message.is_tip ? <span className="chip money">Tip{message.price ? ` $${message.price}` : ''}</span> : null}
          {!message.is_tip && message.price ? <span className="chip money">PPV ${message.price}</span> : null}
          {message.media_count && message.text ? <span className="chip">{message.media_count} media</span> : null}
          <SentimentChip score={message.sentiment} compact />
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
  send,
}: {
  node: ConversationNode;
  online: boolean;
  slaSeconds: number;
  onInsights?: (chatId: string) => void;
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
        <Avatar name={name} seed={String(node.fan.id)} src={node.fan.avatar} online={online} size={44} />
        <div className="conversation-title">
          <h2>{name}</h2>
          <p className="muted">
            {node.fan.username ? `@${node.fan.username} · ` : ''}
            {online ? <span className="online-text">Online now</span> : 'Offline'}
            {' · '}
            {formatNumber(node.message_count)} messages
          </p>
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
            <dt>Session sentiment</dt>
            <dd>
              {session.sentiment_score == null ? DASH : <SentimentChip score={session.sentiment_score} />}
            </dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{formatDuration(session.duration_seconds)}</dd>
          </div>
          <div>
            <dt>Turns</dt>
            <dd>{formatNumber(session.turns)}</dd>
          </div>
          <div>
            <dt>Silence</dt>
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
          <p className="muted center">No messages stored for this chat yet.</p>
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

export function Inbox({
  live,
  topicFilter,
  onClearTopic,
  selectedChat,
  onSelectChat,
  onChatInsights,
  send,
}: {
  live: LiveState;
  topicFilter: string | null;
  onClearTopic: () => void;
  selectedChat: string | null;
  onSelectChat: (chatId: string) => void;
  onChatInsights?: (chatId: string) => void;
  send?: SendMessage;
}) {
  // Wait badges tick on their own; the rest only needs the time for "today"/"Mon" labels.
  const now = useNow(60_000);
  const label = useTopicLabel();
  const [search, setSearch] = useState('');
  const [waitingOnly, setWaitingOnly] = useState(false);
  const listRef = useRef<HTMLUListElement>(null);
  const slaSeconds = live.analytics?.response_time.reply_time.sla_seconds ?? 300;

  const visible = useMemo(
    () => visibleConversations(live, { topic: topicFilter, search, unansweredOnly: waitingOnly }),
    [live, topicFilter, search, waitingOnly],
  );
  const waitingCount = useMemo(
    () => live.order.filter((id) => live.conversations[id]?.unanswered_since != null).length,
    [live.order, live.conversations],
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

  return (
    <div className="inbox">
      <section className="inbox-list" aria-label="Conversations">
        <div className="list-toolbar">
          <label className="search">
            <Icon name="search" size={16} />
            <span className="visually-hidden">Search conversations</span>
            <input
              type="search"
              placeholder="Search fans or messages"
              value={search}
              onChange={(event) => setSearch(event.target.value)}
            />
          </label>
          <div className="list-filters">
            <button
              type="button"
              className={`toggle${waitingOnly ? ' on' : ''}`}
              aria-pressed={waitingOnly}
              onClick={() => setWaitingOnly(!waitingOnly)}
            >
              Waiting <span className="count">{waitingCount}</span>
            </button>
            {topicFilter ? (
              <span className="chip topic filter-chip">
                <Icon name="filter" size={13} />
                {label(topicFilter)}
                <button type="button" className="chip-close" onClick={onClearTopic} aria-label={`Clear topic filter ${label(topicFilter)}`}>
                  <Icon name="close" size={12} />
                </button>
              </span>
            ) : null}
            <span className="list-count muted" aria-live="polite">
              {formatNumber(visible.length)} of {formatNumber(live.order.length)}
            </span>
          </div>
        </div>
        {syncing ? (
          <ul className="conversation-list skeleton" aria-hidden="true">
            {Array.from({ length: 6 }, (_, i) => (
              <li key={i} className="skeleton-row" />
            ))}
          </ul>
        ) : visible.length === 0 ? (
          <EmptyState title={live.order.length ? 'No matching conversations' : 'No conversations yet'} icon={<Icon name="chat" size={28} />}>
            {live.order.length
              ? 'Try another search or clear the filters.'
              : 'Chats appear here as soon as the browser extension sends its first snapshot.'}
          </EmptyState>
        ) : (
          <ul className="conversation-list" ref={listRef}>
            {visible.map((node) => (
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
            ))}
          </ul>
        )}
      </section>
      <div className="inbox-detail">
        {selected ? (
          <ConversationView
            node={selected}
            online={isOnline(live, selected)}
            slaSeconds={slaSeconds}
            onInsights={onChatInsights}
            send={send}
          />
        ) : (
          <EmptyState title="Select a conversation" icon={<Icon name="inbox" size={28} />}>
            Fans waiting for an answer are at the top, the longest wait first. Use ↑ and ↓ to move
            through the list.
          </EmptyState>
        )}
      </div>
    </div>
  );
}
