import { describe, expect, it } from 'vitest';
import type { ConversationNode } from '../generated/wss';
import {
  chatterName,
  compareSpend,
  csvField,
  csvName,
  formatMoney,
  nodeMoney,
  percentChange,
  toCsv,
} from './money';
import { triage } from './triage';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();

function node(chat_id: string, waitingFor: number | null, money?: { lifetime_spend?: number | null; tier?: string | null }) {
  return {
    chat_id,
    fan: { id: chat_id, name: chat_id },
    messages: [],
    message_count: 1,
    last_activity_at: ago(waitingFor ?? 60),
    unanswered_since: waitingFor === null ? null : ago(waitingFor),
    ...money,
  } as ConversationNode;
}

describe('money formatting', () => {
  it('shows dollars with cents, and a dash (never $0.00) for a null', () => {
    expect(formatMoney(1234.5, { locale: 'en-US' })).toBe('$1,234.50');
    expect(formatMoney(0, { locale: 'en-US' })).toBe('$0.00');
    expect(formatMoney(null)).toBe('—');
    expect(formatMoney(undefined)).toBe('—');
    expect(formatMoney(Number.NaN)).toBe('—');
  });

  it('drops the cents only of whole amounts when compact', () => {
    expect(formatMoney(120, { compact: true, locale: 'en-US' })).toBe('$120');
    expect(formatMoney(119.99, { compact: true, locale: 'en-US' })).toBe('$119.99');
  });

  it('compares with the previous window: percent, "new" from nothing, null when unknown', () => {
    expect(percentChange(150, 100)).toBe(50);
    expect(percentChange(50, 100)).toBe(-50);
    expect(percentChange(10, 0)).toBe('new');
    expect(percentChange(0, 0)).toBe(0);
    expect(percentChange(null, 100)).toBeNull();
    expect(percentChange(12, null)).toBeNull();
  });

  it('names chatters: their name, "Unassigned", else the id', () => {
    expect(chatterName('user:3', 'Ava')).toBe('Ava');
    expect(chatterName('unassigned', null)).toBe('Unassigned');
    expect(chatterName('ext:77', null)).toBe('ext:77');
  });
});

describe('CSV of a table', () => {
  it('quotes commas, quotes and line breaks; nulls are empty fields, not 0', () => {
    expect(toCsv(['fan', 'spend', 'last_paid_at'], [['Mia, "M"', 12.5, null], ['Line\nbreak', 0, '2026-12-01']])).toBe(
      'fan,spend,last_paid_at\r\n"Mia, ""M""",12.5,\r\n"Line\nbreak",0,2026-12-01\r\n',
    );
  });

  it('defuses spreadsheet formulas in text but keeps negative numbers', () => {
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('@fan')).toBe("'@fan");
    expect(csvField(-3)).toBe('-3');
    expect(csvField(Number.POSITIVE_INFINITY)).toBe('');
  });

  it('names the file by what and the window (end exclusive)', () => {
    expect(csvName('revenue', '2026-11-04T00:00:00Z', '2026-12-04T00:00:00Z')).toBe('revenue-2026-11-04-2026-12-03.csv');
  });
});

describe('the fan money on a live node', () => {
  it('is unknown (not 0) when the server sends no money fields', () => {
    expect(nodeMoney(node('a', null))).toEqual({ known: false, lifetimeSpend: null, tier: null });
    expect(nodeMoney(node('b', null, { lifetime_spend: 0, tier: 'free' }))).toEqual({ known: true, lifetimeSpend: 0, tier: 'free' });
    expect(nodeMoney(node('c', null, { lifetime_spend: 250, tier: 'whale' })).tier).toBe('whale');
    expect(nodeMoney(node('d', null, { lifetime_spend: null, tier: 'bogus' }))).toEqual({ known: true, lifetimeSpend: null, tier: null });
  });

  it('orders by spend, biggest first, unknown spend last', () => {
    const nodes = [node('none', 1), node('small', 1, { lifetime_spend: 5 }), node('zero', 1, { lifetime_spend: 0 }), node('big', 1, { lifetime_spend: 900 })];
    expect([...nodes].sort(compareSpend).map((n) => n.chat_id)).toEqual(['big', 'small', 'zero', 'none']);
  });
});

describe('inbox order by spend', () => {
  const context = { now: NOW, slaSeconds: 300, horizonSeconds: 86400 };
  const nodes = [
    node('fresh-free', 20, { lifetime_spend: 0, tier: 'free' }),
    node('late-whale', 3600, { lifetime_spend: 480, tier: 'whale' }),
    node('late-spender', 900, { lifetime_spend: 35, tier: 'spender' }),
    node('about-to-miss-spender', 280, { lifetime_spend: 35, tier: 'spender' }),
    node('answered-whale', null, { lifetime_spend: 2000, tier: 'whale' }),
    node('no-money-field', 100),
  ];

  it('puts the biggest spender among the waiting fans first; equal spend keeps the wait order', () => {
    const groups = triage(nodes, context, 'spend');
    expect(groups.waiting.map((n) => n.chat_id)).toEqual([
      'late-whale',
      'about-to-miss-spender',
      'late-spender',
      'fresh-free',
      'no-money-field',
    ]);
    // Waiting fans stay above answered ones, however much those spent.
    expect(groups.others.map((n) => n.chat_id)).toEqual(['answered-whale']);
  });

  it('leaves the default order alone', () => {
    expect(triage(nodes, context).waiting[0]?.chat_id).toBe('about-to-miss-spender');
  });
});
