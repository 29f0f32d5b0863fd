import { describe, expect, it } from 'vitest';
import { createLogger } from '../../logger/logger.ts';
import {
  lsnFromKey,
  lsnKey,
  noteStatement,
  parseLsn,
  withReadRouting,
  currentReadRouting,
} from './position.ts';
import { ReplicaSet, type Query } from './replica-set.ts';

const logger = createLogger({ level: 'silent', pretty: false });

/** A server that answers the health check's statement with what `state()` says at that moment. */
function server(state: () => { replayed: string; sinceReplayMs: number } | Error): Query {
  return (sql) => {
    const s = state();
    if (s instanceof Error) return Promise.reject(s);
    if (sql.includes('pg_current_wal_lsn')) return Promise.resolve([{ lsn: s.replayed }]);
    return Promise.resolve([{ recovering: true, replayed: s.replayed, since_replay: s.sinceReplayMs }]);
  };
}

describe('WAL positions', () => {
  it('parse PostgreSQL text LSNs and keep their order as fixed-width keys', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    const positions = ['0/FFFFFFFF', '1/0', '16/B374D848', 'FF/1'].map(parseLsn);
    const keys = positions.map(lsnKey);
    expect([...keys].sort()).toEqual(keys);
    expect(keys.map((k) => lsnFromKey(k))).toEqual(positions);
    expect(() => parseLsn('not/an lsn')).toThrow(/WAL position/);
    expect(lsnFromKey('xyz')).toBeUndefined();
  });

  it('a statement on the primary that may write pins the caller; reads and replica statements do not', () => {
    withReadRouting(0n, () => {
      noteStatement('select * from documents', 'write');
      noteStatement('insert into documents …', 'read');
      expect(currentReadRouting()?.wrote).toBe(false);
      noteStatement('begin', 'write');
      expect(currentReadRouting()?.wrote).toBe(true);
    });
    withReadRouting(0n, () => {
      noteStatement('  UPDATE users set name = $1', 'write');
      expect(currentReadRouting()?.wrote).toBe(true);
    });
  });
});

describe('ReplicaSet', () => {
  it('decides each read against the caller position: one caught-up replica does not open the others (gitlab#413203)', async () => {
    const primaryAt = '0/500';
    let slowAt = '0/100';
    const set = new ReplicaSet({
      primary: server(() => ({ replayed: primaryAt, sinceReplayMs: 0 })),
      replicas: [
        { name: 'fast', query: server(() => ({ replayed: '0/500', sinceReplayMs: 0 })) },
        { name: 'slow', query: server(() => ({ replayed: slowAt, sinceReplayMs: 50 })) },
      ],
      maxLagMs: 1000,
      checkMs: 60_000,
      logger,
    });
    await set.check();
    const required = parseLsn('0/400');
    // Many reads at the position: every one goes to `fast`, never to `slow`, although `fast` caught up long ago.
    for (let i = 0; i < 200; i++) expect(set.pick(required)).toBe(0);
    // A caller without a position may use either.
    const used = new Set(Array.from({ length: 200 }, () => set.pick(0n)));
    expect(used).toEqual(new Set([0, 1]));
    // Once `slow` has replayed it, it serves the position too.
    slowAt = '0/400';
    await set.check();
    expect(new Set(Array.from({ length: 200 }, () => set.pick(required)))).toEqual(new Set([0, 1]));
    // A position no replica has reached: the primary (undefined).
    expect(set.pick(parseLsn('0/600'))).toBeUndefined();
  });

  it('takes a down or lagging replica out of rotation and puts it back when it recovers', async () => {
    let state: { replayed: string; sinceReplayMs: number } | Error = new Error('connect ECONNREFUSED');
    const set = new ReplicaSet({
      primary: server(() => ({ replayed: '0/900', sinceReplayMs: 0 })),
      replicas: [{ name: 'r', query: server(() => state) }],
      maxLagMs: 1000,
      checkMs: 60_000,
      logger,
    });
    await set.check();
    expect(set.snapshot()[0]).toMatchObject({ healthy: false, lagMs: undefined });
    expect(set.pick(0n)).toBeUndefined();
    state = { replayed: '0/100', sinceReplayMs: 5000 };
    await set.check();
    expect(set.snapshot()[0]).toMatchObject({ healthy: false, lagMs: 5000 });
    expect(set.snapshot()[0]?.reason).toMatch(/lags 5000 ms/);
    state = { replayed: '0/900', sinceReplayMs: 5000 };
    await set.check();
    // Replayed everything the primary has: not behind, however old its last replayed commit.
    expect(set.snapshot()[0]).toMatchObject({ healthy: true, lagMs: 0 });
    expect(set.pick(0n)).toBe(0);
    set.markDown(0, new Error('Connection terminated unexpectedly'));
    expect(set.pick(0n)).toBeUndefined();
  });
});
