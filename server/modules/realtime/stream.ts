import { tracked } from '@trpc/server';
import type { EventLog, Retention } from '../../platform/pubsub/event-log.ts';
import type { Live } from './live.ts';

export type Resync = { type: 'resync' };

export interface StreamOptions<T> {
  lastEventId: string | null | undefined;
  retention: Retention;
  maxQueued: number;
  keep?: (data: T) => boolean;
  coalesceKey?: (data: T) => string | null;
}

/** A durable channel as `tracked` items: replay from lastEventId, then live; a gap becomes a resync item. */
export function stream<T>(live: Live, log: EventLog, channel: string, opts: StreamOptions<T>) {
  return live.run(async function* (signal) {
    const items = log.subscribe<T>(channel, {
      lastEventId: opts.lastEventId,
      signal,
      retention: opts.retention,
      maxQueued: opts.maxQueued,
      ...(opts.coalesceKey ? { coalesceKey: opts.coalesceKey } : {}),
    });
    for await (const item of items) {
      if (item.kind === 'gap') yield tracked<T | Resync>(item.id, { type: 'resync' });
      else if (item.kind === 'event' && (!opts.keep || opts.keep(item.data))) {
        yield tracked<T | Resync>(item.id, item.data);
      }
    }
  });
}
