import { describe, expect, it } from 'vitest';
import { describeDetails } from './AuditTrail.tsx';
import { changesOf } from './FlagAudit.tsx';
import { formatAgo, formatDuration, shortId } from './format.ts';
import { oneOf } from './url.ts';

describe('console formatting', () => {
  it('writes durations the way an operator reads them, and a dash for no value', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_345)).toBe('12.3 s');
    expect(formatDuration(250_000)).toBe('4 min 10 s');
    expect(formatDuration(7_500_000)).toBe('2 h 5 min');
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
  });

  it('says how long ago from a given now, so rendering stays pure', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(formatAgo(now - 2_000, now)).toBe('just now');
    expect(formatAgo(new Date(now - 42_000), now)).toBe('42 s ago');
    expect(formatAgo(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(formatAgo(now - 9 * 86_400_000, now)).toBe('9 d ago');
  });

  it('shortens long ids only', () => {
    expect(shortId('e2e-1')).toBe('e2e-1');
    expect(shortId('15fc8c18-d2c6-47a2-b5e3-dc8fbbad95a3')).toBe('15fc8c18…');
  });
});

describe('values from a hand-edited URL', () => {
  it('keeps allowed values and falls back for anything else', () => {
    const ranges = ['1h', '6h', '24h', '7d'] as const;
    expect(oneOf('6h', ranges, '1h')).toBe('6h');
    expect(oneOf('2y', ranges, '1h')).toBe('1h');
    expect(oneOf('', ranges, '1h')).toBe('1h');
  });
});

describe('audit descriptions', () => {
  it('lists what a flag update changed, and nothing for identical snapshots', () => {
    expect(
      changesOf({ enabled: false, rolloutPercentage: 0 }, { enabled: true, rolloutPercentage: 0 }),
    ).toEqual(['enabled: false → true']);
    expect(changesOf(null, { variant: 'on' })).toEqual(['variant: — → "on"']);
    expect(changesOf({ a: 1 }, { a: 1 })).toEqual([]);
  });

  it('puts an operator’s reason first and skips empty details', () => {
    expect(describeDetails({ name: 'Globex', reason: 'Chargeback', note: null })).toBe(
      '“Chargeback” · name: Globex',
    );
    expect(describeDetails({ count: 3, ids: ['a', 'b'] })).toBe('count: 3 · ids: ["a","b"]');
    expect(describeDetails({})).toBe('');
  });
});
