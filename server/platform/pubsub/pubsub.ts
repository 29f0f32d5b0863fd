import { on } from 'node:events';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger/logger.ts';

/**
 * Cross-process fan-out over Redis pub/sub: one subscriber connection per process, shared by every local listener
 * of a channel. Delivery is at most once (Redis pub/sub keeps nothing); durable replay is the realtime module's job.
 */
export class PubSub {
  private readonly local = new EventEmitter();
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
    private readonly logger?: Logger,
  ) {
    this.local.setMaxListeners(0);
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString().slice(this.prefix.length);
      try {
        this.local.emit(name, JSON.parse(message.toString()));
      } catch (err) {
        this.logger?.warn({ err, channel: name }, 'dropped malformed pub/sub message');
      }
    });
  }

  async publish(channel: string, payload: unknown): Promise<void> {
    await this.publisher.publish(this.prefix + channel, JSON.stringify(payload));
  }

  /** Async iterator of a channel's messages until the signal aborts. Listening starts before this resolves. */
  async subscribe<T>(channel: string, signal: AbortSignal): Promise<AsyncIterableIterator<T>> {
    const n = (this.counts.get(channel) ?? 0) + 1;
    this.counts.set(channel, n);
    if (n === 1) await this.subscriber.subscribe(this.prefix + channel);
    const iterator = on(this.local, channel, { signal }) as AsyncIterableIterator<[T]>;
    const release = () => {
      const left = (this.counts.get(channel) ?? 1) - 1;
      if (left <= 0) {
        this.counts.delete(channel);
        void this.subscriber.unsubscribe(this.prefix + channel).catch(() => undefined);
      } else {
        this.counts.set(channel, left);
      }
    };
    signal.addEventListener('abort', release, { once: true });
    return (async function* () {
      try {
        for await (const [message] of iterator) yield message;
      } catch (err) {
        if (!signal.aborted) throw err;
      }
    })();
  }
}
