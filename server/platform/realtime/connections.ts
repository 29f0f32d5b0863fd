import type { WebSocket } from 'ws';
import { REALTIME_CLOSE } from '../../../shared/schemas/realtime.ts';

export interface RealtimeLimits {
  /** Live subscriptions one WebSocket may hold at once. */
  maxSubscriptionsPerConnection: number;
  /** Sustained incoming messages per second per connection (a token bucket of `messageBurst`). */
  messagesPerSecond: number;
  messageBurst: number;
  /** Above this many unsent bytes a subscription waits (and coalescable streams coalesce) before sending more. */
  softBufferedBytes: number;
  /** Above this many unsent bytes the client is too slow and the connection is closed. */
  maxBufferedBytes: number;
  /** A client whose backlog stays above the soft limit this long is too slow as well. */
  slowConsumerMs: number;
  /** Live messages one subscription may have waiting before its consumer counts as too slow. */
  maxQueuedPerSubscription: number;
  /** Presence: a tab disappears this long after its last heartbeat. */
  presenceTtlMs: number;
  presenceHeartbeatMs: number;
  /** Every live subscription re-verifies its credentials this often, besides reacting to revocation events. */
  revalidateMs: number;
  /** `documents.signal` per user and document: sustained per second, and burst. */
  signalsPerSecond: number;
  signalBurst: number;
  /** On shutdown, how long clients get to reconnect elsewhere before their sockets are closed. */
  shutdownGraceMs: number;
  /** How often each process publishes an `ops.metrics` sample. */
  metricsIntervalMs: number;
}

export const DEFAULT_REALTIME_LIMITS: RealtimeLimits = {
  maxSubscriptionsPerConnection: 50,
  messagesPerSecond: 20,
  messageBurst: 60,
  softBufferedBytes: 256 * 1024,
  maxBufferedBytes: 4 * 1024 * 1024,
  slowConsumerMs: 10_000,
  maxQueuedPerSubscription: 1000,
  presenceTtlMs: 30_000,
  presenceHeartbeatMs: 10_000,
  revalidateMs: 60_000,
  signalsPerSecond: 10,
  signalBurst: 30,
  shutdownGraceMs: 2_000,
  metricsIntervalMs: 1_000,
};

/** Process-wide figures for `ops.metrics`. */
export class RealtimeCounters {
  connections = 0;
  subscriptions = 0;
  messagesOut = 0;
  messagesIn = 0;
  droppedSlow = 0;
  rateLimited = 0;
}

const OPEN = 1;
/** On shutdown, how long a client gets to answer the close handshake before its socket is cut. */
const SHUTDOWN_CLOSE_WAIT_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One WebSocket: its limits and its live subscriptions. */
export class Connection {
  subscriptions = 0;
  closing = false;
  /** Run once when the socket closes: one socket listener however many subscriptions it carries. */
  private readonly closeListeners = new Set<() => void>();
  private tokens: number;
  private refilledAt = performance.now();

  constructor(
    readonly socket: WebSocket,
    private readonly limits: RealtimeLimits,
    private readonly counters: RealtimeCounters,
  ) {
    this.tokens = limits.messageBurst;
    socket.once('close', () => {
      for (const fn of this.closeListeners) fn();
      this.closeListeners.clear();
    });
  }

  /** Calls fn when the socket closes; the returned function stops that. */
  onClose(fn: () => void): () => void {
    this.closeListeners.add(fn);
    return () => this.closeListeners.delete(fn);
  }

  /** False (and the connection closes) when the client sends faster than its rate limit. */
  admitMessage(): boolean {
    if (this.closing) return false;
    const now = performance.now();
    this.tokens = Math.min(
      this.limits.messageBurst,
      this.tokens + ((now - this.refilledAt) / 1000) * this.limits.messagesPerSecond,
    );
    this.refilledAt = now;
    if (this.tokens < 1) {
      this.counters.rateLimited++;
      this.close(REALTIME_CLOSE.RATE_LIMITED, 'message rate limit exceeded');
      return false;
    }
    this.tokens -= 1;
    this.counters.messagesIn++;
    return true;
  }

  /** Drops a client that does not read: its unsent bytes would otherwise grow in this process's memory. */
  checkBacklog(): void {
    if (this.closing || this.socket.bufferedAmount <= this.limits.maxBufferedBytes) return;
    this.dropSlow(`more than ${this.limits.maxBufferedBytes} bytes unsent`);
  }

  private dropSlow(why: string): void {
    this.counters.droppedSlow++;
    this.close(REALTIME_CLOSE.SLOW_CONSUMER, `slow consumer: ${why}, reconnect with lastEventId`);
  }

  /**
   * Waits while the socket has more than the soft limit unsent (coalescable streams merge meanwhile); a client that
   * stays behind for `slowConsumerMs` is dropped.
   */
  async drained(signal: AbortSignal): Promise<void> {
    const since = performance.now();
    while (
      this.socket.bufferedAmount > this.limits.softBufferedBytes &&
      !this.closing &&
      !signal.aborted &&
      this.socket.readyState === OPEN
    ) {
      if (performance.now() - since > this.limits.slowConsumerMs) {
        this.dropSlow(`backlog not read for ${this.limits.slowConsumerMs} ms`);
        return;
      }
      await sleep(20);
    }
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.close(code, reason.slice(0, 120));
    // A client too slow to read data is too slow to answer the close handshake as well.
    setTimeout(() => this.socket.terminate(), 2_000).unref();
  }
}

const CONNECTION = Symbol('keel.realtime.connection');

/**
 * The connection a WebSocket tRPC context belongs to. tRPC copies the context object for each middleware with a
 * spread, which keeps symbol-keyed properties, so the link survives into procedures.
 */
export function connectionOf(ctx: object): Connection | undefined {
  return (ctx as { [CONNECTION]?: Connection })[CONNECTION];
}

/** Every WebSocket of this process, with the limits applied to each. */
export class Connections {
  private readonly live = new Set<Connection>();
  private readonly bySocket = new WeakMap<object, Connection>();
  shuttingDown = false;

  constructor(
    private readonly limits: RealtimeLimits,
    private readonly counters: RealtimeCounters,
  ) {}

  get size(): number {
    return this.live.size;
  }

  /**
   * Takes a socket before tRPC's handler sees it (the WebSocket server's `connection` event fires first): incoming
   * messages over the rate limit never reach tRPC, and every send is followed by a backlog check.
   */
  attach(socket: WebSocket): Connection {
    const conn = new Connection(socket, this.limits, this.counters);
    this.live.add(conn);
    this.bySocket.set(socket, conn);
    this.counters.connections++;
    const emit = socket.emit.bind(socket);
    socket.emit = ((event: string | symbol, ...args: unknown[]) =>
      event === 'message' && !conn.admitMessage() ? false : emit(event, ...args)) as typeof socket.emit;
    const send = socket.send.bind(socket);
    socket.send = ((...args: Parameters<WebSocket['send']>) => {
      (send as (...a: unknown[]) => void)(...args);
      this.counters.messagesOut++;
      conn.checkBacklog();
    }) as typeof socket.send;
    socket.once('close', () => {
      this.live.delete(conn);
      this.counters.connections--;
    });
    if (this.shuttingDown) this.askToReconnect(conn);
    return conn;
  }

  /** Links a tRPC context to its connection (see connectionOf); a no-op for HTTP contexts. */
  bind<C extends object>(ctx: C, socket: unknown): C {
    const conn = socket && typeof socket === 'object' ? this.bySocket.get(socket) : undefined;
    if (conn) Object.defineProperty(ctx, CONNECTION, { value: conn, enumerable: true });
    return ctx;
  }

  private askToReconnect(conn: Connection): void {
    if (conn.socket.readyState === OPEN) conn.socket.send(JSON.stringify({ id: null, method: 'reconnect' }));
  }

  /**
   * Graceful shutdown: asks every client to reconnect (tRPC clients then open a new socket, which a load balancer
   * sends to another process, and resume their subscriptions with lastEventId), waits up to the grace period for
   * them to go, then closes the rest with 1012 (service restart).
   */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const conn of this.live) this.askToReconnect(conn);
    await this.until(Date.now() + this.limits.shutdownGraceMs);
    for (const conn of this.live) conn.close(REALTIME_CLOSE.SERVER_RESTART, 'server restarting, reconnect');
    // A client that does not answer the close handshake promptly is cut off: shutdown has a bound.
    await this.until(Date.now() + SHUTDOWN_CLOSE_WAIT_MS);
    for (const conn of this.live) conn.socket.terminate();
  }

  private async until(deadline: number): Promise<void> {
    while (this.live.size && Date.now() < deadline) await sleep(25);
  }
}
