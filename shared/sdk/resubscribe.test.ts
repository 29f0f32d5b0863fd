import { createTRPCClient, TRPCClientError, type OperationLink, type TRPCLink } from '@trpc/client';
// The library's observable (what tRPC links return), not Keel's server/ code that the pattern is meant for.
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { observable } from '@trpc/server/observable';
import { describe, expect, it } from 'vitest';
import type { TRPC_ERROR_CODE_NUMBER } from '@trpc/server/rpc';
import type { AppRouter } from '../../server/trpc/router.ts';
import type { AppErrorCode } from '../errors.ts';
import { isRecoverable, resubscribeLink } from './resubscribe.ts';

const INTERNAL_SERVER_ERROR: TRPC_ERROR_CODE_NUMBER = -32603;

const failure = (message: string, httpStatus: number, appCode: AppErrorCode) =>
  new TRPCClientError<AppRouter>(message, {
    result: {
      error: {
        message,
        code: INTERNAL_SERVER_ERROR,
        data: { code: 'ERROR', httpStatus, appCode },
      },
    },
  });

type Script = { events: string[]; then: TRPCClientError<AppRouter> };

/** A server stand-in: each subscription attempt plays the next script and records the input it was opened with. */
function scripted(scripts: Script[], inputs: unknown[]): TRPCLink<AppRouter> {
  return (): OperationLink<AppRouter> =>
    ({ op }) =>
      observable((observer) => {
        inputs.push(op.input);
        const script = scripts.shift();
        if (!script) return () => undefined;
        observer.next({ result: { type: 'started' } });
        for (const id of script.events) {
          // As the WebSocket link delivers a tracked event: its id on the result and around the data.
          observer.next({ result: { type: 'data', id, data: { id, data: { action: `event ${id}` } } } });
        }
        observer.error(script.then);
        return () => undefined;
      });
}

describe('resubscribeLink', () => {
  it('resubscribes from the last event after a recoverable error and surfaces a final one', async () => {
    const inputs: unknown[] = [];
    const client = createTRPCClient<AppRouter>({
      links: [
        resubscribeLink({ delayMs: () => 0 }),
        scripted(
          [
            { events: ['1-0', '2-0'], then: failure('slow consumer', 503, 'SERVICE_UNAVAILABLE') },
            { events: ['3-0'], then: failure('shutting down', 503, 'SERVICE_UNAVAILABLE') },
            { events: [], then: failure('You are no longer a member', 403, 'NOT_A_MEMBER') },
          ],
          inputs,
        ),
      ],
    });
    const ids: string[] = [];
    const error = await new Promise<unknown>((resolve) => {
      client.activity.onNew.subscribe(undefined, {
        onData: ({ id }) => ids.push(id),
        onError: resolve,
      });
    });
    expect(ids).toEqual(['1-0', '2-0', '3-0']);
    expect(inputs).toEqual([undefined, { lastEventId: '2-0' }, { lastEventId: '3-0' }]);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<AppRouter>).data?.appCode).toBe('NOT_A_MEMBER');
  });

  it('tells recoverable errors (5xx) from final ones', () => {
    expect(isRecoverable(failure('x', 503, 'SERVICE_UNAVAILABLE'))).toBe(true);
    expect(isRecoverable(failure('x', 500, 'INTERNAL'))).toBe(true);
    for (const [status, code] of [
      [401, 'AUTH_REQUIRED'],
      [403, 'NOT_A_MEMBER'],
      [401, 'TOKEN_REVOKED'],
      [429, 'RATE_LIMITED'],
    ] as const) {
      expect(isRecoverable(failure('x', status, code))).toBe(false);
    }
    expect(isRecoverable(new Error('not from the server'))).toBe(false);
  });
});
