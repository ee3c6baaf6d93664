// The inbox's default order (triage), the same rule as the server's ofca.domain.triage, which
// decides which 500 chats a full sync sends (README "Inbox order").
//
// 1. Waiting: the fan's unanswered run started within the horizon; by wait against the SLA:
//    within the SLA the longest wait first (answering now keeps them within it), then past the
//    SLA the freshest first (the most likely to still be there).
// 2. The other conversations by last activity, newest first.
// 3. Older waits: waiting longer than the horizon (shown collapsed), newest first.
// The sort option changes the order inside each group; the groups stay.
import type { ConversationNode } from '../generated/wss';
import { parseTime } from './format';
import { compareSpend } from './money';

/** Hours of the horizon; null: no horizon (every wait is recent). */
export type Horizon = 24 | 168 | null;
export const HORIZONS: readonly { value: Horizon; label: string }[] = [
  { value: 24, label: '24 h' },
  { value: 168, label: '7 d' },
  { value: null, label: 'All' },
];

/** The server's default (OFCA_TRIAGE_HORIZON_HOURS, 0 = none), as one of the choices. */
export function horizonFromHours(hours: number | null | undefined): Horizon {
  if (hours == null) return 24;
  if (hours <= 0) return null;
  return hours <= 24 ? 24 : hours <= 168 ? 168 : null;
}

export interface SortOption {
  id: string;
  label: string;
  /** Order inside a group; ties fall back to the chat id. */
  compare: (a: ConversationNode, b: ConversationNode, context: TriageContext) => number;
}

export interface TriageContext {
  now: number;
  slaSeconds: number;
  horizonSeconds: number | null;
}

function waitSeconds(node: ConversationNode, now: number): number | null {
  const since = parseTime(node.unanswered_since);
  return since === null ? null : Math.max(0, (now - since) / 1000);
}

function lastActivity(node: ConversationNode): number {
  return parseTime(node.last_activity_at) ?? -Infinity;
}

function byActivity(a: ConversationNode, b: ConversationNode): number {
  const diff = lastActivity(b) - lastActivity(a);
  return Number.isNaN(diff) ? 0 : diff;
}

/** Rank of a waiting fan against the SLA: [0, -wait] within it, [1, wait] past it. */
function slaRank(node: ConversationNode, context: TriageContext): [number, number] {
  const wait = waitSeconds(node, context.now) ?? 0;
  return wait <= context.slaSeconds ? [0, -wait] : [1, wait];
}

/** Waiting fans against the SLA (see the top of this file); others by last activity. */
function byWait(a: ConversationNode, b: ConversationNode, context: TriageContext): number {
  const aWait = waitSeconds(a, context.now);
  const bWait = waitSeconds(b, context.now);
  if (aWait === null || bWait === null) return byActivity(a, b);
  const [ag, av] = slaRank(a, context);
  const [bg, bv] = slaRank(b, context);
  return ag - bg || av - bv;
}

/** Sort options: each appears in the inbox's sort menu. */
export const SORTS: SortOption[] = [
  { id: 'wait', label: 'Wait vs SLA', compare: byWait },
  {
    // The fan's lifetime spend (METRICS.md "Fans"), biggest first; fans of equal spend (and
    // fans whose spend the server does not send) keep the wait order.
    id: 'spend',
    label: 'Spend (biggest first)',
    compare: (a, b, context) => compareSpend(a, b) || byWait(a, b, context),
  },
  { id: 'activity', label: 'Last activity', compare: (a, b) => byActivity(a, b) },
];

export function sortOption(id: string | null | undefined): SortOption {
  return SORTS.find((sort) => sort.id === id) ?? SORTS[0]!;
}

export interface TriageGroups {
  waiting: ConversationNode[];
  others: ConversationNode[];
  stale: ConversationNode[];
}

export function triage(nodes: readonly ConversationNode[], context: TriageContext, sortId = 'wait'): TriageGroups {
  const groups: TriageGroups = { waiting: [], others: [], stale: [] };
  for (const node of nodes) {
    const wait = waitSeconds(node, context.now);
    if (wait === null) groups.others.push(node);
    else if (context.horizonSeconds === null || wait <= context.horizonSeconds) groups.waiting.push(node);
    else groups.stale.push(node);
  }
  const sort = sortOption(sortId);
  const compare = (a: ConversationNode, b: ConversationNode) =>
    sort.compare(a, b, context) || (a.chat_id < b.chat_id ? -1 : a.chat_id > b.chat_id ? 1 : 0);
  groups.waiting.sort(compare);
  groups.others.sort(compare);
  // Older waits are past every SLA: by wait that is the freshest first, as by activity.
  groups.stale.sort((a, b) => byActivity(a, b) || (a.chat_id < b.chat_id ? -1 : 1));
  return groups;
}

/** The rows in display order (the stale group only when expanded). */
export function triageOrder(groups: TriageGroups, showStale: boolean): ConversationNode[] {
  return [...groups.waiting, ...groups.others, ...(showStale ? groups.stale : [])];
}
