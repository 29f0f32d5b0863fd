import type { QueryClient } from '@tanstack/react-query';
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  splitLink,
  wsLink,
  type TRPCClientErrorLike,
} from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import type { inferRouterOutputs } from '@trpc/server';
import superjson from 'superjson';
import type { AppRouter } from '../../server/trpc/router.ts';

export type { AppRouter };
export type ApiError = TRPCClientErrorLike<AppRouter>;

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

function wsUrl(): string {
  const protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${protocol}//${window.location.host}/trpc`;
}

/**
 * The WebSocket authenticates once, with the cookies of its upgrade request, so it must be reopened whenever the
 * signed-in user changes. Lazy mode opens it only while a subscription is live.
 */
export const wsClient = createWSClient({
  url: wsUrl,
  lazy: { enabled: true, closeMs: 5_000 },
  keepAlive: { enabled: true, intervalMs: 20_000, pongTimeoutMs: 5_000 },
});

export const trpcClient = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: wsLink({ client: wsClient, transformer: superjson }),
      false: httpBatchLink({
        url: '/trpc',
        transformer: superjson,
        fetch: (input, init) => fetch(input, { ...init, credentials: 'include' }),
      }),
    }),
  ],
});

/** Forgets everything cached for the previous user and drops the WebSocket that carried their cookie. */
export async function resetSession(queryClient: QueryClient): Promise<void> {
  await wsClient.close();
  queryClient.removeQueries();
}

export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Me = RouterOutputs['auth']['me'];
