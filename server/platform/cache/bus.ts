import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger/logger.ts';
import type { PubSub } from '../pubsub/pubsub.ts';

/** What other processes must drop from their in-process layer. Keys and tags are full (namespaced) names. */
export type Invalidation =
  { kind: 'tags'; tags: string[] } | { kind: 'keys'; keys: string[] } | { kind: 'clear' };

interface BusMessage {
  id: string;
  origin: string;
  invalidation: Invalidation;
}

export interface BroadcastResult {
  /** Other processes listening when the message was published. */
  receivers: number;
  /** How many of them confirmed they dropped their copies before the wait ran out. */
  acknowledged: number;
}

export interface CacheBus {
  readonly instanceId: string;
  /** Starts listening; `onReset` runs when messages may have been missed (the subscriber reconnected). */
  start(onInvalidation: (inv: Invalidation) => void, onReset: () => void): Promise<void>;
  /** Tells every other process and waits (bounded) until each has applied it. */
  broadcast(inv: Invalidation): Promise<BroadcastResult>;
  close(): void;
}

const ackChannel = (instanceId: string) => `cache:ack:${instanceId}`;

/**
 * Invalidation over Redis pub/sub with acknowledgements. Plain pub/sub only promises that Redis has written the
 * message to the other subscribers' sockets when PUBLISH returns, not that they have read it, so a flush could
 * return while another process still serves its stale in-memory copy. Here PUBLISH's receiver count tells how many
 * processes listen, each answers on the sender's ack channel once it has dropped the entries, and `broadcast`
 * waits for those answers (bounded: a process that died mid-way cannot hold a flush forever).
 */
export class RedisCacheBus implements CacheBus {
  readonly instanceId = randomUUID();
  private readonly waiters = new Map<string, { count: number; done: () => void; need: number }>();
  private readonly stops: (() => void)[] = [];
  private listening = false;

  constructor(
    /** Its publish resolves with the receiver count, which tells how many acknowledgements to wait for. */
    private readonly pubsub: PubSub,
    private readonly ackTimeoutMs: number,
    private readonly logger?: Logger,
    /** One channel per kind of in-process data (the cache's entries, the access module's principals). */
    private readonly channel = 'cache:bus',
  ) {}

  async start(onInvalidation: (inv: Invalidation) => void, onReset: () => void): Promise<void> {
    this.stops.push(
      await this.pubsub.listen<BusMessage>(this.channel, (msg) => {
        if (!msg || typeof msg !== 'object' || msg.origin === this.instanceId) return;
        try {
          onInvalidation(msg.invalidation);
        } catch (err) {
          this.logger?.warn({ err }, 'cache invalidation failed');
        }
        void this.pubsub.publish(ackChannel(msg.origin), { id: msg.id }).catch(() => undefined);
      }),
      await this.pubsub.listen<{ id: string }>(ackChannel(this.instanceId), (ack) => {
        const w = this.waiters.get(ack?.id);
        if (w && ++w.count >= w.need) w.done();
      }),
      this.pubsub.onReconnect(onReset),
    );
    this.listening = true;
  }

  async broadcast(invalidation: Invalidation): Promise<BroadcastResult> {
    const msg: BusMessage = { id: randomUUID(), origin: this.instanceId, invalidation };
    let release!: () => void;
    const finished = new Promise<void>((resolve) => (release = resolve));
    const waiter = { count: 0, need: Number.POSITIVE_INFINITY, done: release };
    this.waiters.set(msg.id, waiter);
    try {
      const subscribed = await this.pubsub.publish(this.channel, msg);
      const receivers = Math.max(0, subscribed - (this.listening ? 1 : 0));
      waiter.need = receivers;
      if (waiter.count >= receivers) return { receivers, acknowledged: waiter.count };
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        finished,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.ackTimeoutMs))),
      ]);
      clearTimeout(timer);
      return { receivers, acknowledged: waiter.count };
    } finally {
      this.waiters.delete(msg.id);
    }
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
    this.listening = false;
  }
}
