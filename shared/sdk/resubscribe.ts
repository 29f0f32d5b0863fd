import { TRPCClientError, type TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
// The library's observable (what tRPC links return), not Keel's server/ code that the pattern is meant for.
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { observable, type Unsubscribable } from '@trpc/server/observable';

/**
 * Whether a subscription that ended with this error should be opened again. A 5xx (the server was briefly
 * unavailable, a slow consumer was dropped, a node is shutting down) is recoverable: what was missed is replayed from
 * `lastEventId`. Anything else is final — access ended (`UNAUTHORIZED`, `NOT_A_MEMBER`, `TOKEN_REVOKED`,
 * `SESSION_EXPIRED`, `TENANT_SUSPENDED`, …), the input is wrong, or a limit refuses it — and goes to the caller.
 */
export function isRecoverable(err: unknown): boolean {
  if (!(err instanceof TRPCClientError)) return false;
  const status = (err.data as { httpStatus?: unknown } | undefined)?.httpStatus;
  return typeof status === 'number' && status >= 500;
}

/** Resubscribes after a recoverable error, from the last event id received. */
export interface ResubscribeOptions {
  /** How long to wait before attempt n (0-based); reset once an event arrives. */
  delayMs: (attempt: number) => number;
}

/** The input with the id to resume after (tRPC's own reconnects do the same for inputs that are objects). */
function resumeInput(input: unknown, lastEventId: string): unknown {
  return { ...(input && typeof input === 'object' ? input : {}), lastEventId };
}

/**
 * A link in front of the WebSocket link: a subscription that ends with a recoverable error is opened again with the
 * `lastEventId` of the last event it delivered, so the caller sees one uninterrupted stream (each event once); a
 * final error reaches the caller's `onError`, and the subscription ends.
 */
export function resubscribeLink<TRouter extends AnyRouter>(opts: ResubscribeOptions): TRPCLink<TRouter> {
  return () =>
    ({ op, next }) => {
      if (op.type !== 'subscription') return next(op);
      return observable((observer) => {
        let lastEventId: string | undefined;
        let attempt = 0;
        let current: Unsubscribable | null = null;
        let timer: ReturnType<typeof setTimeout> | undefined;
        let stopped = false;
        const open = () => {
          const input = lastEventId === undefined ? op.input : resumeInput(op.input, lastEventId);
          current = next({ ...op, input }).subscribe({
            next(envelope) {
              const result = envelope.result;
              if ('type' in result && result.type === 'data' && 'id' in result && result.id) {
                lastEventId = String(result.id);
                attempt = 0;
              }
              observer.next(envelope);
            },
            error(err) {
              if (stopped) return;
              if (!isRecoverable(err)) return observer.error(err);
              timer = setTimeout(open, opts.delayMs(attempt++));
            },
            complete() {
              observer.complete();
            },
          });
        };
        open();
        return () => {
          stopped = true;
          clearTimeout(timer);
          current?.unsubscribe();
        };
      });
    };
}
