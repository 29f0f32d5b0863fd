import { on } from 'node:events';
import { EventEmitter } from 'node:events';
import { isCluster, type RedisClient } from '../redis/redis.ts';
import type { Logger } from '../logger/logger.ts';

export type Listener<T> = (message: T) => void;

/** After a shard's subscriber is replaced, when listeners are told a second time (see the constructor). */
const RESUBSCRIBE_SETTLE_MS = 1_000;

/**
 * Cross-process fan-out over Redis pub/sub: one subscriber connection per process, shared by every local listener
 * of a channel, and each message parsed once however many listeners it has. Delivery is at most once (Redis
 * pub/sub keeps nothing); durable replay is EventLog's job (event-log.ts).
 */
export class PubSub {
  private readonly local = new EventEmitter();
  private readonly counts = new Map<string, number>();
  /** Channels whose SUBSCRIBE is in flight or done: a second listener waits for the same confirmation. */
  private readonly ready = new Map<string, Promise<void>>();
  private readonly reconnectListeners = new Set<() => void>();
  private connectedOnce = false;
  /**
   * On a Redis Cluster, sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7): a channel lives on the shard of its slot,
   * instead of every message being copied to every node of the cluster. On one server, classic pub/sub.
   */
  readonly sharded: boolean;

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly prefix: string,
    private readonly logger?: Logger,
  ) {
    this.local.setMaxListeners(0);
    this.sharded = isCluster(subscriber);
    this.subscriber.on(
      this.sharded ? 'smessageBuffer' : 'messageBuffer',
      (channel: Buffer, message: Buffer) => {
        const name = channel.toString().slice(this.prefix.length);
        let parsed: unknown;
        try {
          parsed = JSON.parse(message.toString());
        } catch (err) {
          this.logger?.warn({ err, channel: name }, 'dropped malformed pub/sub message');
          return;
        }
        this.local.emit(name, parsed);
      },
    );
    // ioredis re-subscribes by itself after a reconnect, but whatever was published in between is gone: durable
    // listeners use this to backfill from their log.
    this.subscriber.on('ready', () => {
      if (this.connectedOnce) this.notifyReconnect();
      this.connectedOnce = true;
    });
    if (this.subscriber.status === 'ready') this.connectedOnce = true;
    if (this.sharded) {
      // The cluster's connection stays 'ready' while one shard's subscriber is lost (its master failed over):
      // a subscriber that comes back after one went away may have missed messages of its channels. ioredis emits
      // '+subscriber' when it creates the replacement, before it subscribes again, and 'subscribersReady' once it
      // has sent the SSUBSCRIBEs (without waiting for their replies); listeners are told after that, and once more
      // a second later, so what was published before the server took the SSUBSCRIBE is backfilled too. During an
      // outage ioredis retries every few hundred ms; each retry that replaces the dead node's subscriber counts.
      let lost = false;
      this.subscriber.on('-subscriber', () => (lost = true));
      this.subscriber.on('-node', () => (lost = true));
      this.subscriber.on('subscribersReady', () => {
        if (!lost) return;
        lost = false;
        this.notifyReconnect();
        setTimeout(() => this.notifyReconnect(), RESUBSCRIBE_SETTLE_MS).unref();
      });
    }
  }

  /** Resolves with the number of subscribers that received it (on a cluster: of the channel's shard, i.e. all). */
  async publish(channel: string, payload: unknown): Promise<number> {
    const name = this.prefix + channel;
    const message = JSON.stringify(payload);
    return Number(
      await (this.sharded ? this.publisher.spublish(name, message) : this.publisher.publish(name, message)),
    );
  }

  /** The full Redis channel name of a channel, for scripts that PUBLISH themselves. */
  redisChannel(channel: string): string {
    return this.prefix + channel;
  }

  /**
   * Calls `listener` with each message of the channel until the returned function is called. Resolves once Redis
   * has confirmed the subscription, so anything published afterwards is delivered.
   */
  async listen<T>(channel: string, listener: Listener<T>): Promise<() => void> {
    const n = (this.counts.get(channel) ?? 0) + 1;
    this.counts.set(channel, n);
    let ready = this.ready.get(channel);
    if (!ready) {
      const name = this.prefix + channel;
      ready = (this.sharded ? this.subscriber.ssubscribe(name) : this.subscriber.subscribe(name)).then(
        () => undefined,
      );
      this.ready.set(channel, ready);
    }
    this.local.on(channel, listener as Listener<unknown>);
    try {
      await ready;
    } catch (err) {
      this.release(channel, listener as Listener<unknown>);
      throw err;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(channel, listener as Listener<unknown>);
    };
  }

  private release(channel: string, listener: Listener<unknown>): void {
    this.local.off(channel, listener);
    const left = (this.counts.get(channel) ?? 1) - 1;
    if (left > 0) {
      this.counts.set(channel, left);
      return;
    }
    this.counts.delete(channel);
    this.ready.delete(channel);
    const name = this.prefix + channel;
    void (this.sharded ? this.subscriber.sunsubscribe(name) : this.subscriber.unsubscribe(name)).catch(
      () => undefined,
    );
  }

  /** Whether the subscriber connection is up: while it is not, messages published meanwhile are lost to us. */
  get connected(): boolean {
    return this.subscriber.status === 'ready';
  }

  private notifyReconnect(): void {
    for (const fn of this.reconnectListeners) fn();
  }

  /** Called after the subscriber connection came back from a disconnect (messages may have been missed). */
  onReconnect(fn: () => void): () => void {
    this.reconnectListeners.add(fn);
    return () => this.reconnectListeners.delete(fn);
  }

  /** Number of local listeners per channel (for the live metrics). */
  listenerCount(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  /** Async iterator of a channel's messages until the signal aborts. Listening starts before this resolves. */
  async subscribe<T>(channel: string, signal: AbortSignal): Promise<AsyncIterableIterator<T>> {
    const emitter = new EventEmitter();
    const stop = await this.listen<T>(channel, (m) => emitter.emit('m', m));
    const iterator = on(emitter, 'm', { signal }) as AsyncIterableIterator<[T]>;
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    return (async function* () {
      try {
        for await (const [message] of iterator) yield message;
      } catch (err) {
        if (!signal.aborted) throw err;
      } finally {
        stop();
      }
    })();
  }
}
