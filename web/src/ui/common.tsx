import { createContext, useContext, useState, type ReactNode } from 'react';
import { SENTIMENT_SCALE, formatSentiment, initials, prettifyId, sentimentLabel, sentimentTone } from '../lib/format';
import { formatMoney, TIER_HINTS, TIER_LABELS, type Tier } from '../lib/money';

/** Topic id -> label (built-ins from the page config, custom topics from the API). */
export const TopicLabels = createContext<Record<string, string>>({});

export function useTopicLabel(): (id: string) => string {
  const labels = useContext(TopicLabels);
  return (id) => labels[id] ?? prettifyId(id);
}

const AVATAR_HUES = [262, 200, 330, 160, 24, 290, 215, 100];

function hueFor(seed: string): number {
  let hash = 0;
  for (let i = 0; i < seed.length; i++) hash = (hash * 31 + seed.charCodeAt(i)) | 0;
  return AVATAR_HUES[Math.abs(hash) % AVATAR_HUES.length]!;
}

export function Avatar({
  name,
  seed,
  src,
  online,
  size = 40,
}: {
  name: string;
  seed: string;
  src?: string | null;
  online?: boolean;
  size?: number;
}) {
  const hue = hueFor(seed);
  // Platform avatar links expire: a failed image falls back to the initials.
  const [failed, setFailed] = useState<string | null>(null);
  const showImage = src && failed !== src;
  return (
    <span className="avatar" style={{ width: size, height: size, ['--hue' as string]: hue }} aria-hidden="true">
      {showImage ? (
        <img
          src={src}
          alt=""
          width={size}
          height={size}
          loading="lazy"
          referrerPolicy="no-referrer"
          onError={() => setFailed(src)}
        />
      ) : (
        <span className="avatar-initials" style={{ fontSize: size * 0.38 }}>
          {initials(name)}
        </span>
      )}
      {online ? <span className="online-dot" /> : null}
    </span>
  );
}

/**
 * A sentiment score as "negative · 42" (or "42" compact). ``scope`` says whose sentiment it
 * is (e.g. "Fan sentiment, whole chat"), since a chat row and a session can differ.
 */
export function SentimentChip({
  score,
  compact = false,
  scope = 'Sentiment',
}: {
  score: number | null | undefined;
  compact?: boolean;
  scope?: string;
}) {
  const tone = sentimentTone(score);
  if (tone === 'none') return null;
  const label = sentimentLabel(score);
  return (
    <span
      className={`chip sentiment sentiment-${tone}`}
      title={`${scope}: ${formatSentiment(score)} / 100, ${label}. ${SENTIMENT_SCALE}`}
      aria-label={`${scope} ${formatSentiment(score)} of 100, ${label}`}
    >
      <span className="sentiment-dot" aria-hidden="true" />
      {compact ? formatSentiment(score) : `${label} · ${formatSentiment(score)}`}
    </span>
  );
}

/** A fan's tier (METRICS.md "Fans"), with their lifetime spend when given. */
export function TierChip({ tier, spend }: { tier: Tier | null; spend?: number | null }) {
  if (!tier) return null;
  return (
    <span
      className={`chip tier tier-${tier}`}
      title={spend != null ? `Lifetime spend ${formatMoney(spend)}. ${TIER_LABELS[tier]}: ${TIER_HINTS[tier]}` : TIER_HINTS[tier]}
      data-tier={tier}
      data-spend={spend ?? undefined}
    >
      {TIER_LABELS[tier]}
      {spend != null ? <span className="tier-spend"> · {formatMoney(spend, { compact: true })}</span> : null}
    </span>
  );
}

export function TopicChips({ topics, max = 3 }: { topics: readonly string[]; max?: number }) {
  const label = useTopicLabel();
  if (!topics.length) return null;
  const shown = topics.slice(0, max);
  const hidden = topics.slice(max);
  return (
    <span className="chips">
      {shown.map((topic) => (
        <span key={topic} className="chip topic">
          {label(topic)}
        </span>
      ))}
      {hidden.length ? (
        <span className="chip topic more" title={hidden.map(label).join(', ')}>
          +{hidden.length}
        </span>
      ) : null}
    </span>
  );
}

export function EmptyState({ title, children, icon }: { title: string; children?: ReactNode; icon?: ReactNode }) {
  return (
    <div className="empty-state">
      {icon ? <div className="empty-icon">{icon}</div> : null}
      <h2>{title}</h2>
      {children ? <div className="empty-body">{children}</div> : null}
    </div>
  );
}

/** Small inline icons (stroke-based, 20px grid) so no icon font or package is needed. */
export function Icon({ name, size = 18 }: { name: keyof typeof ICONS; size?: number }) {
  return (
    <svg
      className="icon"
      width={size}
      height={size}
      viewBox="0 0 20 20"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.6}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {ICONS[name]}
    </svg>
  );
}

const ICONS = {
  inbox: (
    <>
      <path d="M3 11.5 5 4.5h10l2 7" />
      <path d="M3 11.5V16h14v-4.5h-4.2a2.8 2.8 0 0 1-5.6 0Z" />
    </>
  ),
  chart: (
    <>
      <path d="M3 16.5h14" />
      <path d="M5.5 13.5V9M9.5 13.5V5.5M13.5 13.5v-6" />
    </>
  ),
  sun: (
    <>
      <circle cx="10" cy="10" r="3.2" />
      <path d="M10 2.5v1.8M10 15.7v1.8M2.5 10h1.8M15.7 10h1.8M4.7 4.7 6 6M14 14l1.3 1.3M4.7 15.3 6 14M14 6l1.3-1.3" />
    </>
  ),
  moon: <path d="M15.5 12.3A6.2 6.2 0 0 1 7.7 4.5a6.2 6.2 0 1 0 7.8 7.8Z" />,
  monitor: (
    <>
      <rect x="2.8" y="3.8" width="14.4" height="9.6" rx="1.5" />
      <path d="M7 16.5h6M10 13.4v3.1" />
    </>
  ),
  search: (
    <>
      <circle cx="8.8" cy="8.8" r="5" />
      <path d="m12.5 12.5 4 4" />
    </>
  ),
  close: <path d="m5.5 5.5 9 9M14.5 5.5l-9 9" />,
  logout: (
    <>
      <path d="M8 4H4.5v12H8" />
      <path d="M12 6.5 15.5 10 12 13.5M15.5 10H7.5" />
    </>
  ),
  clock: (
    <>
      <circle cx="10" cy="10" r="6.8" />
      <path d="M10 6.2V10l2.6 1.6" />
    </>
  ),
  alert: (
    <>
      <path d="M10 3.2 17.4 16H2.6Z" />
      <path d="M10 8v3.6M10 13.8v.2" />
    </>
  ),
  refresh: (
    <>
      <path d="M15.8 8.5A6 6 0 0 0 4.6 7M4.2 11.5A6 6 0 0 0 15.4 13" />
      <path d="M4.4 3.8V7h3.2M15.6 16.2V13h-3.2" />
    </>
  ),
  chat: <path d="M4 4.5h12v8.5H9l-3.5 3v-3H4Z" />,
  key: (
    <>
      <circle cx="7" cy="12.5" r="3.2" />
      <path d="m9.3 10.2 6-6M13.3 6.2l1.8 1.8" />
    </>
  ),
  arrowUp: <path d="M10 15V5M5.8 9.2 10 5l4.2 4.2" />,
  arrowDown: <path d="M10 5v10M5.8 10.8 10 15l4.2-4.2" />,
  filter: <path d="M3.5 5h13l-5 6v4.5l-3-1.5v-3Z" />,
  back: <path d="M12.5 4.5 7 10l5.5 5.5" />,
  menu: <path d="M3.5 5.5h13M3.5 10h13M3.5 14.5h13" />,
  info: (
    <>
      <circle cx="10" cy="10" r="6.8" />
      <path d="M10 9v4.5M10 6.6v.2" />
    </>
  ),
  download: (
    <>
      <path d="M10 3.5v9M6.2 8.8 10 12.6l3.8-3.8" />
      <path d="M4 14.5v2h12v-2" />
    </>
  ),
  money: (
    <>
      <circle cx="10" cy="10" r="6.8" />
      <path d="M12.3 7.6c-.4-.8-1.3-1.2-2.3-1.2-1.3 0-2.3.7-2.3 1.7 0 2.3 4.7 1.2 4.7 3.7 0 1-1 1.8-2.4 1.8-1.1 0-2-.5-2.4-1.3M10 5v1.4M10 13.6V15" />
    </>
  ),
  fans: (
    <>
      <circle cx="7.5" cy="7.5" r="2.6" />
      <path d="M2.8 16c.4-2.6 2.3-4.2 4.7-4.2s4.3 1.6 4.7 4.2" />
      <circle cx="13.8" cy="6.8" r="2.1" />
      <path d="M13.4 11.2c2 .1 3.4 1.4 3.8 3.6" />
    </>
  ),
  headset: (
    <>
      <path d="M4.5 11V9.5a5.5 5.5 0 0 1 11 0V11" />
      <rect x="3.5" y="10.5" width="3" height="4.5" rx="1.2" />
      <rect x="13.5" y="10.5" width="3" height="4.5" rx="1.2" />
      <path d="M15 15c0 1.3-1.3 2-3 2h-1.5" />
    </>
  ),
};
