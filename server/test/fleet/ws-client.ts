import { createTRPCClient, createWSClient, wsLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import { WebSocket as NodeWebSocket } from 'ws';
import type { AppRouter } from '../../trpc/router.ts';
import { authHeaders, type Auth } from './http.ts';
import { NODE_HEADER } from './haproxy.ts';

// A subscriber through the load balancer that knows which node holds its WebSocket: HAProxy names the node on the
// upgrade's 101 answer. tRPC's wsLink reconnects by itself (to whichever node HAProxy picks then) and resumes each
// tracked subscription from the last event id it saw.

export interface Subscriber {
  trpc: TRPCClient<AppRouter>;
  /** The node of each connection it opened, in order (a reconnect adds one). */
  nodes: string[];
  close(): Promise<void>;
}

export function subscriber(wsUrl: string, auth: Exclude<Auth, null>, organizationId?: string): Subscriber {
  const nodes: string[] = [];
  const headers = 'cookie' in auth ? authHeaders(auth) : {};
  class Recording extends NodeWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { headers });
      this.once('upgrade', (res) => {
        const node = res.headers[NODE_HEADER];
        if (typeof node === 'string') nodes.push(node);
      });
    }
  }
  const ws = createWSClient({
    url: wsUrl,
    connectionParams: {
      ...('token' in auth ? { token: auth.token } : {}),
      ...(organizationId ? { organizationId } : {}),
    },
    retryDelayMs: () => 100,
    WebSocket: Recording as unknown as typeof globalThis.WebSocket,
  });
  const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: ws, transformer: superjson })] });
  return { trpc, nodes, close: () => ws.close() };
}
