// A second application process for the cross-process cache tests: `tsx cache-child.ts <redisUrl> <keyPrefix>`.
// Reads one JSON command per stdin line and answers one JSON line on stdout.
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { openCache } from './fixture.ts';

const [redisUrl, prefix] = process.argv.slice(2);
if (!redisUrl || !prefix) throw new Error('usage: cache-child.ts <redisUrl> <keyPrefix>');

const fixture = await openCache(redisUrl, prefix);
const { cache, hub } = fixture;
const scope = cache.global;

interface Command {
  id: number;
  op: 'burst' | 'remember' | 'flush' | 'stats' | 'exit';
  key?: string;
  value?: unknown;
  n?: number;
  delayMs?: number;
  startAt?: number;
  tags?: string[];
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'burst': {
      let runs = 0;
      await sleep(Math.max(0, (cmd.startAt ?? 0) - Date.now()));
      const results = await Promise.all(
        Array.from({ length: cmd.n ?? 1 }, () =>
          scope.remember(
            cmd.key!,
            async () => {
              runs++;
              await hub.get('cache').incr(`${prefix}test:runs:${cmd.key}`);
              await sleep(cmd.delayMs ?? 0);
              return { by: process.pid };
            },
            { ttl: 60, tags: cmd.tags ?? [] },
          ),
        ),
      );
      return { runs, distinct: [...new Set(results.map((r) => JSON.stringify(r)))] };
    }
    case 'remember': {
      let ran = false;
      const value = await scope.remember(
        cmd.key!,
        () => {
          ran = true;
          return cmd.value;
        },
        { ttl: 60, tags: cmd.tags ?? [] },
      );
      return { value, ran };
    }
    case 'flush':
      await scope.flushTags(...(cmd.tags ?? []));
      return { ok: true };
    case 'stats':
      return cache.stats();
    case 'exit':
      await fixture.close();
      setImmediate(() => process.exit(0));
      return { ok: true };
  }
}

const reply = (line: unknown) => process.stdout.write(JSON.stringify(line) + '\n');
reply({ ready: true });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as Command;
  handle(cmd).then(
    (result) => reply({ id: cmd.id, result }),
    (err: unknown) => reply({ id: cmd.id, error: err instanceof Error ? err.message : String(err) }),
  );
}
