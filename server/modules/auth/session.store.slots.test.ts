import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { keySlot } from '../../platform/redis/slots.ts';
import { SessionStore } from './session.store.ts';

// The slot rule of server/platform/redis/slots.test.ts for sessions: on a Redis Cluster no command may span slots,
// and a session (keyed by its hash) and its user's index never share one.

const recorder = new Redis({ lazyConnect: true });
afterAll(() => recorder.disconnect());

it('sends sessions only single-key commands (a session and its user index are written one after the other)', async () => {
  const seen: string[][] = [];
  // Records the keys of every command instead of sending it (nothing connects).
  recorder.sendCommand = (command) => {
    seen.push(command.getKeys().map(String));
    command.resolve(command.name === 'smembers' ? [] : 'OK');
    return command.promise;
  };
  const sessions = new SessionStore(recorder, 'keel:sess:', 3600);
  const id = await sessions.create('user-1');
  await sessions.destroy(id);
  await sessions.destroyAllForUser('user-1');
  expect(seen.length).toBeGreaterThan(3);
  for (const keys of seen) expect(new Set(keys.map(keySlot)).size).toBeLessThanOrEqual(1);
});
