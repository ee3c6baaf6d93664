import { describe, expect, it } from 'vitest';
import type { ConversationNode } from '../generated/wss';
import { horizonFromHours, triage, triageOrder } from './triage';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();

function node(chat_id: string, waitingFor: number | null, lastActivityAgo: number): ConversationNode {
  return {
    chat_id,
    fan: { id: chat_id, name: chat_id },
    messages: [],
    message_count: 1,
    last_activity_at: ago(lastActivityAgo),
    unanswered_since: waitingFor === null ? null : ago(waitingFor),
  };
}

// The inbox: a fan waiting 85 days sat on top, one who wrote 21 s ago at position 64.
const NODES = [
  node('stale', 85 * 86400, 85 * 86400),
  node('late', 3 * 3600, 3 * 3600),
  node('answered-now', null, 5),
  node('fresh', 21, 21),
  node('just-late', 400, 400),
  node('about-to-miss', 280, 280),
  node('answered-long-ago', null, 40 * 86400),
];
const DAY = { now: NOW, slaSeconds: 300, horizonSeconds: 86400 };

describe('triage', () => {
  it('puts recent waits first, by wait against the SLA, and older waits in their own group', () => {
    const groups = triage(NODES, DAY);
    expect(groups.waiting.map((n) => n.chat_id)).toEqual(['about-to-miss', 'fresh', 'just-late', 'late']);
    expect(groups.others.map((n) => n.chat_id)).toEqual(['answered-now', 'answered-long-ago']);
    expect(groups.stale.map((n) => n.chat_id)).toEqual(['stale']);
    expect(triageOrder(groups, false)).toHaveLength(6);
    expect(triageOrder(groups, true).at(-1)?.chat_id).toBe('stale');
  });

  it('agrees with the server: the same order as ofca.domain.triage for the full sync', () => {
    // tests/ingest/test_triage.py expects this order for the same chats.
    const groups = triage(NODES, DAY);
    const sent = [...groups.waiting, ...[...groups.others, ...groups.stale].sort((a, b) =>
      Date.parse(b.last_activity_at!) - Date.parse(a.last_activity_at!))];
    expect(sent.map((n) => n.chat_id)).toEqual([
      'about-to-miss', 'fresh', 'just-late', 'late', 'answered-now', 'answered-long-ago', 'stale',
    ]);
  });

  it('without a horizon every wait is triaged; by last activity on request', () => {
    const all = triage(NODES, { ...DAY, horizonSeconds: null });
    expect(all.waiting.map((n) => n.chat_id)).toEqual(['about-to-miss', 'fresh', 'just-late', 'late', 'stale']);
    expect(all.stale).toEqual([]);
    const byActivity = triage(NODES, DAY, 'activity');
    expect(byActivity.waiting.map((n) => n.chat_id)).toEqual(['fresh', 'about-to-miss', 'just-late', 'late']);
  });

  it('a fan crossing the SLA moves to the top of the late ones', () => {
    const later = { ...DAY, now: NOW + 30_000 }; // about-to-miss now waits 310 s
    expect(triage(NODES, later).waiting.map((n) => n.chat_id)).toEqual(['fresh', 'about-to-miss', 'just-late', 'late']);
  });

  it('maps the server horizon onto the control', () => {
    expect(horizonFromHours(24)).toBe(24);
    expect(horizonFromHours(0)).toBeNull();
    expect(horizonFromHours(72)).toBe(168);
    expect(horizonFromHours(1000)).toBeNull();
  });
});
