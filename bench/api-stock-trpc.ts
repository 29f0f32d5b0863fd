// The stock-tRPC server of bench/api.bench.ts (issue 20: "Keel vs stock tRPC"): a plain `initTRPC` router with
// superjson, the same zod input and output schemas as Keel's procedures, served by tRPC's Fastify adapter, doing the
// reference's work (bench/api-reference.ts: token, membership and rows in one SQL round trip). Keel / this isolates
// what Keel adds around a procedure (its middleware chain, access policy, tenant scope, ORM, observability); this /
// the reference is what tRPC itself (routing, input and output validation, superjson, the adapter) costs.
import { initTRPC, TRPCError } from '@trpc/server';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import Fastify from 'fastify';
import pg from 'pg';
import superjson from 'superjson';
import { z } from 'zod';
import {
  documentIdInput,
  documentOutput,
  documentSummary,
  listDocumentsInput,
} from '../shared/schemas/documents.ts';
import { organizationOutput } from '../shared/schemas/tenancy.ts';
import { bearerHash, referenceQueries, RefError } from './api-reference.ts';

// As Keel's organization.current declares it (server/modules/tenancy/tenancy.router.ts).
const organizationDetail = organizationOutput.extend({
  billingEmail: z.string().nullable(),
  settings: z.object({ timezone: z.string(), locale: z.string(), dashboardCacheSeconds: z.number() }),
});

const t = initTRPC.context<{ authorization: string | undefined }>().create({ transformer: superjson });

const codes: Record<number, TRPCError['code']> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
};

/** The reference's refusals as tRPC errors. */
const asTrpc = (err: unknown) =>
  err instanceof RefError
    ? new TRPCError({ code: codes[err.status] ?? 'NOT_FOUND', message: err.code })
    : err;

export async function startStockTrpcServer(databaseUrl: string, poolMax: number): Promise<number> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolMax });
  const queries = referenceQueries(pool);
  const run = <T>(work: () => Promise<T>) => work().catch((err: unknown) => Promise.reject(asTrpc(err)));
  const router = t.router({
    organization: t.router({
      current: t.procedure
        .output(organizationDetail)
        .query(({ ctx }) => run(() => queries.current(bearerHash(ctx.authorization)))),
    }),
    documents: t.router({
      get: t.procedure
        .input(documentIdInput)
        .output(documentOutput)
        .query(({ ctx, input }) => run(() => queries.get(bearerHash(ctx.authorization), input))),
      list: t.procedure
        .input(listDocumentsInput)
        .output(z.object({ items: z.array(documentSummary), nextCursor: z.string().nullable() }))
        .query(({ ctx, input }) => run(() => queries.list(bearerHash(ctx.authorization), input))),
    }),
  });
  const app = Fastify({ logger: false });
  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router,
      createContext: ({ req }: CreateFastifyContextOptions) => ({ authorization: req.headers.authorization }),
    },
  } satisfies FastifyTRPCPluginOptions<typeof router>);
  app.addHook('onClose', () => pool.end());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}
