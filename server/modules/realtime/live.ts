import { TRPCError } from '@trpc/server';
import { AppError } from '../../../shared/errors.ts';
import type { Ability } from '../../../shared/permissions.ts';
import { REALTIME_CLOSE } from '../../../shared/schemas/realtime.ts';
import type { AppDeps } from '../../app-deps.ts';
import { runDetached } from '../../platform/async/detached.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import { SubscriberOverflowError } from '../../platform/pubsub/event-log.ts';
import { connectionOf } from '../../platform/realtime/connections.ts';
import type { Credentials } from '../../trpc/context.ts';
import { toTrpcError } from '../../platform/errors/shape.ts';
import type { Auth } from '../../trpc/middleware/authenticate.ts';
import type { Tenant } from '../../trpc/middleware/tenant.ts';
import { requireStaff } from '../access/access.service.ts';
import { accessKeys } from './access-watcher.ts';

/** What a subscription's context carries once the auth (and tenant) middleware ran. */
export interface LiveContext {
  deps: AppDeps;
  credentials: Credentials;
  auth: Auth;
  tenant?: Tenant;
}

export interface LiveOptions {
  signal: AbortSignal | undefined;
  /**
   * The ability the organization membership must still grant (tenant subscriptions; default `read`); `null` for a
   * subscription open to every member, whatever their abilities.
   */
  ability?: Ability | null;
  staffOnly?: boolean;
  /** Re-verifies access to the subscribed resource inside the tenant scope; throws an AppError when it is gone. */
  recheckResource?: (em: Em) => Promise<void>;
  /** More revocation keys the subscription depends on (e.g. `document:<id>`). */
  keys?: string[];
}

export interface Live {
  /** Aborts when the client unsubscribes or access is revoked. */
  signal: AbortSignal;
  /** Wraps the subscription's generator: limits, backpressure, revocation and error mapping. */
  run<T>(make: (signal: AbortSignal) => AsyncIterable<T>): AsyncGenerator<T>;
}

const LIVE = Symbol('keel.live');

/** True for what `Live.run` returned: the subscription went through openLive (checked for every subscription). */
export function isLive(value: unknown): boolean {
  return typeof value === 'object' && value !== null && LIVE in value;
}

/**
 * Re-verifies, through the same access policy as the middleware, what it verified when the subscription started:
 * the token or session still valid, the membership still there with the needed ability, the organization active,
 * staff still staff. Cached principals are as current as the database here: every change that removes access drops
 * them in every process before the revocation that triggers this recheck is published.
 */
async function verify(ctx: LiveContext, opts: LiveOptions): Promise<void> {
  const { deps, auth, credentials, tenant } = ctx;
  const principal = await deps.access.principalOf(credentials);
  if (principal.user.id !== auth.user.id) {
    throw auth.via === 'token'
      ? new AppError('TOKEN_INVALID', 'The API token is not valid')
      : new AppError('SESSION_EXPIRED', 'Your session has expired, sign in again');
  }
  if (opts.staffOnly) requireStaff(principal);
  const organizationId = tenant?.organization.id;
  if (!organizationId) return;
  const membership = await deps.access.membershipOf(principal, organizationId);
  if (!membership) throw new AppError('NOT_A_MEMBER', 'You are no longer a member of this organization');
  if (membership.suspended) throw new AppError('TENANT_SUSPENDED', 'This organization is suspended');
  const ability = opts.ability === undefined ? 'read' : opts.ability;
  if (ability && !membership.abilities.includes(ability)) {
    throw new AppError('ABILITY_MISSING', `This subscription needs the "${ability}" ability`, { ability });
  }
  if (opts.recheckResource) {
    const recheckResource = opts.recheckResource;
    await withDbScope(deps.em, organizationId, (em) => recheckResource(em));
  }
}

/**
 * Runs `check` one at a time. A call made while a run is in flight gets one more run after it, shared by every call
 * made meanwhile: the run in flight may have read the state from before the change that asked for this call.
 */
export function serialized(check: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const run = (): Promise<void> => {
    if (!running) {
      running = check().finally(() => {
        running = null;
      });
      return running;
    }
    const rerun = () => {
      next = null;
      return run();
    };
    return (next ??= running.then(rerun, rerun));
  };
  return run;
}

/**
 * Starts a live subscription: call it in the resolver after the start checks (it counts against the connection's
 * subscription limit) and return `live.run(...)`. The generator body runs outside the request's async-local scope,
 * so everything it needs is captured here.
 */
export async function openLive(ctx: LiveContext, opts: LiveOptions): Promise<Live> {
  const { deps } = ctx;
  const { realtime } = deps;
  const conn = connectionOf(ctx);
  if (conn && conn.subscriptions >= realtime.limits.maxSubscriptionsPerConnection) {
    throw new AppError(
      'RATE_LIMITED',
      `At most ${realtime.limits.maxSubscriptionsPerConnection} subscriptions per connection`,
      { limit: realtime.limits.maxSubscriptionsPerConnection },
    );
  }
  // The middleware checked access a moment ago; a revocation seen since then must not slip through.
  const checkedAt = Date.now() - 2_000;
  const revoked = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, revoked.signal]) : revoked.signal;
  let ended = false;

  // Rechecks are asked for from anywhere (a revocation message, the periodic timer, this subscription's own start):
  // each runs in no request's scope, so its database scope is its own and never another tenant's.
  const recheck = serialized(() =>
    runDetached(async () => {
      try {
        if (!ended) await verify(ctx, opts);
      } catch (err) {
        if (err instanceof AppError) revoked.abort(err);
        // Anything else (database or Redis briefly unavailable) is not a revocation: keep serving.
        else deps.logger.warn({ err }, 'live subscription recheck failed');
      }
    }),
  );

  const keys = [
    ...accessKeys({
      userId: ctx.auth.user.id,
      organizationId: ctx.tenant?.organization.id ?? null,
      tokenId: ctx.auth.token?.id ?? null,
      sessionId: ctx.auth.sessionId,
    }),
    ...(opts.keys ?? []),
  ];
  if (conn) conn.subscriptions++;
  const unregister = await realtime.register({ keys, recheck }, checkedAt);
  let offClose: () => void = () => undefined;
  const cleanup = () => {
    if (ended) return;
    ended = true;
    offClose();
    unregister();
    if (conn) conn.subscriptions--;
  };
  // The adapter may never iterate the generator (the socket closed in between): clean up on close as well.
  if (conn) offClose = conn.onClose(cleanup);
  opts.signal?.addEventListener('abort', cleanup, { once: true });

  async function* live<T>(make: (signal: AbortSignal) => AsyncIterable<T>): AsyncGenerator<T> {
    try {
      for await (const value of make(signal)) {
        if (conn && conn.socket.bufferedAmount > realtime.limits.softBufferedBytes)
          await conn.drained(signal);
        if (signal.aborted) break;
        yield value;
      }
      const reason: unknown = revoked.signal.reason;
      if (revoked.signal.aborted && reason instanceof AppError) throw reason;
    } catch (err) {
      if (err instanceof AppError) throw toTrpcError(err);
      if (err instanceof SubscriberOverflowError) {
        // Reconnecting with lastEventId replays from the log what this consumer could not keep up with.
        conn?.close(REALTIME_CLOSE.SLOW_CONSUMER, 'slow consumer: reconnect with lastEventId');
        throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: err.message });
      }
      throw err;
    } finally {
      cleanup();
    }
  }

  return {
    signal,
    run: (make) => Object.assign(live(make), { [LIVE]: true }),
  };
}
