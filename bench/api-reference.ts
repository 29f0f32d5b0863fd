// The hand-written reference of bench/api.bench.ts (issue 20): Fastify + `pg` doing the work Keel does for
// `organization.current`, `documents.get` and `documents.list` — the same API token rules (SHA-256 of the secret,
// revoked, expired, "last used" written at most once a minute), the token's user, the membership (role, token
// abilities narrowing the role's), the organization (suspended → refused) and the rows — in ONE SQL statement per
// request, answering the same superjson envelope as Keel's tRPC HTTP response. It is what a careful team would write
// by hand; the bench checks its bodies against Keel's before measuring.
//
// What it does NOT do that Keel does, so the ratio is read with it in mind: no row-level security (it connects as
// the database owner and filters by the token's organization in the WHERE clause), no rate limit, no request log,
// metrics or tracing, no cookie sessions, no X-Organization-Id or subdomain tenant selection (a token is bound to
// one organization anyway).
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply } from 'fastify';
import pg from 'pg';
import superjson from 'superjson';
import { z } from 'zod';
import { effectiveAbilities, type Ability, type Role } from '../shared/permissions.ts';
import { documentIdInput, listDocumentsInput } from '../shared/schemas/documents.ts';
import type { OrganizationTier } from '../shared/schemas/tenancy.ts';

const TOKEN_PREFIX = 'keel_';
const DEFAULT_SETTINGS = { timezone: 'UTC', locale: 'en', dashboardCacheSeconds: 60 };

/** The columns every statement returns first: the token, its membership and its organization. */
const AUTH_COLUMNS = `
  t.id as token_id, t.token_hash, t.abilities as token_abilities, t.last_used_at, t.expires_at, t.revoked_at,
  t.user_id, m.role, o.id as org_id, o.name as org_name, o.slug, o.tier, o.active, o.billing_email, o.settings`;
/** Token → user → membership → organization; the membership and organization are left-joined so that "not a member"
 * is told apart from "no such token". */
const AUTH_FROM = `
  from api_tokens t
  join users u on u.id = t.user_id
  left join memberships m on m.organization_id = t.organization_id and m.user_id = t.user_id
  left join organizations o on o.id = m.organization_id`;

const SQL_CURRENT = `select ${AUTH_COLUMNS} ${AUTH_FROM} where t.token_hash = $1`;
const DOC_COLUMNS = `d.id as doc_id, d.title, d.version, d.public, d.owner_id, ow.name as owner_name,
  d.updated_by_id, d.created_at, d.updated_at`;
const SQL_GET = `select ${AUTH_COLUMNS}, ${DOC_COLUMNS}, d.content ${AUTH_FROM}
  left join documents d on d.id = $2 and d.organization_id = m.organization_id
    and (d.public or d.owner_id = t.user_id)
  left join users ow on ow.id = d.owner_id
  where t.token_hash = $1`;
// The page (limit + 1 rows, to know whether there is a next one) in keyset order, as Keel's listDocuments.
const SQL_LIST = `select ${AUTH_COLUMNS}, d.* ${AUTH_FROM}
  left join lateral (
    select ${DOC_COLUMNS} from documents d join users ow on ow.id = d.owner_id
    where d.organization_id = m.organization_id and (d.public or d.owner_id = t.user_id)
      and ($3::timestamptz is null or d.updated_at < $3 or (d.updated_at = $3 and d.id < $4::uuid))
    order by d.updated_at desc, d.id desc limit $2
  ) d on true
  where t.token_hash = $1`;

interface AuthRow {
  token_id: string;
  token_hash: string;
  token_abilities: Ability[];
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  user_id: string;
  role: Role | null;
  org_id: string | null;
  org_name: string;
  slug: string;
  tier: OrganizationTier;
  active: boolean;
  billing_email: string | null;
  settings: Record<string, unknown>;
}
interface DocRow {
  doc_id: string | null;
  title: string;
  version: number;
  public: boolean;
  owner_id: string;
  owner_name: string;
  updated_by_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export class RefError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
  ) {
    super(code);
  }
}

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

export function bearerHash(authorization: string | undefined): string {
  const secret = authorization?.startsWith('Bearer ') ? authorization.slice(7) : null;
  if (!secret) throw new RefError('AUTH_REQUIRED', 401);
  if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 100) throw new RefError('TOKEN_INVALID', 401);
  return hashSecret(secret);
}

/** Parses a tRPC GET input (`?input=<superjson>`) with the procedure's own schema. */
function parseInput<T>(raw: unknown, schema: z.ZodType<T>): T {
  let value: unknown = undefined;
  if (typeof raw === 'string') {
    try {
      value = superjson.deserialize(JSON.parse(raw) as Parameters<typeof superjson.deserialize>[0]);
    } catch {
      throw new RefError('VALIDATION_FAILED', 400);
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new RefError('VALIDATION_FAILED', 400);
  return parsed.data;
}

function settingsOf(s: Record<string, unknown>) {
  return {
    timezone: typeof s.timezone === 'string' ? s.timezone : DEFAULT_SETTINGS.timezone,
    locale: typeof s.locale === 'string' ? s.locale : DEFAULT_SETTINGS.locale,
    dashboardCacheSeconds:
      typeof s.dashboardCacheSeconds === 'number'
        ? s.dashboardCacheSeconds
        : DEFAULT_SETTINGS.dashboardCacheSeconds,
  };
}

/** The row carries a document (the documents are left-joined: none found leaves them null). */
const hasDocument = <R extends DocRow>(r: R): r is R & { doc_id: string } => r.doc_id !== null;

const summary = (d: DocRow & { doc_id: string }) => ({
  id: d.doc_id,
  title: d.title,
  version: d.version,
  public: d.public,
  ownerId: d.owner_id,
  ownerName: d.owner_name,
  updatedById: d.updated_by_id,
  createdAt: d.created_at,
  updatedAt: d.updated_at,
});

/** The three calls' work — one SQL round trip each plus the token and membership rules — shared by the
 * hand-written Fastify server and the stock-tRPC one (bench/api-stock-trpc.ts), which differ only around it. */
export function referenceQueries(pool: pg.Pool) {
  /** The token rules of Keel's authenticateToken and the membership rules of its tenant middleware. */
  function authorize(hash: string, row: AuthRow | undefined): AuthRow & { role: Role; org_id: string } {
    if (!row || !timingSafeEqual(Buffer.from(row.token_hash), Buffer.from(hash))) {
      throw new RefError('TOKEN_INVALID', 401);
    }
    if (row.revoked_at) throw new RefError('TOKEN_REVOKED', 401);
    if (row.expires_at && row.expires_at.getTime() <= Date.now()) throw new RefError('TOKEN_EXPIRED', 401);
    // One write a minute per token at most, as Keel: the only request that makes a second round trip.
    if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
      void pool
        .query('update api_tokens set last_used_at = now() where id = $1', [row.token_id])
        .catch(() => undefined);
    }
    const { role, org_id } = row;
    if (!role || !org_id) throw new RefError('NOT_A_MEMBER', 403);
    if (!row.active) throw new RefError('TENANT_SUSPENDED', 403);
    if (!effectiveAbilities(role, row.token_abilities).includes('read')) {
      throw new RefError('ABILITY_MISSING', 403);
    }
    return { ...row, role, org_id };
  }

  return {
    async current(hash: string) {
      const { rows } = await pool.query<AuthRow>(SQL_CURRENT, [hash]);
      const a = authorize(hash, rows[0]);
      return {
        id: a.org_id,
        name: a.org_name,
        slug: a.slug,
        tier: a.tier,
        active: a.active,
        role: a.role,
        billingEmail: a.billing_email,
        settings: settingsOf(a.settings),
      };
    },
    async get(hash: string, input: { id: string }) {
      const { rows } = await pool.query<AuthRow & DocRow & { content: string }>(SQL_GET, [hash, input.id]);
      authorize(hash, rows[0]);
      const d = rows[0];
      if (!d || !hasDocument(d)) throw new RefError('NOT_FOUND', 404);
      return { ...summary(d), content: d.content };
    },
    async list(hash: string, input: { limit: number; cursor?: string | null | undefined }) {
      let after: [Date, string] | [null, null] = [null, null];
      if (input.cursor) {
        const [at, id] = input.cursor.split('|');
        const updatedAt = new Date(at ?? '');
        if (!id || Number.isNaN(updatedAt.getTime()) || !z.uuid().safeParse(id).success) {
          throw new RefError('VALIDATION_FAILED', 400);
        }
        after = [updatedAt, id];
      }
      const { rows } = await pool.query<AuthRow & DocRow>(SQL_LIST, [hash, input.limit + 1, ...after]);
      authorize(hash, rows[0]);
      const docs = rows.filter(hasDocument);
      const items = docs.slice(0, input.limit).map(summary);
      const last = items[items.length - 1];
      return {
        items,
        nextCursor: docs.length > input.limit && last ? `${last.updatedAt.toISOString()}|${last.id}` : null,
      };
    },
  };
}

export async function startReferenceServer(databaseUrl: string, poolMax: number): Promise<number> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolMax });
  const queries = referenceQueries(pool);
  const app = Fastify({ logger: false });

  const send = (reply: FastifyReply, data: unknown) =>
    reply
      .header('content-type', 'application/json')
      .send(JSON.stringify({ result: { data: superjson.serialize(data) } }));

  app.setErrorHandler((err, _req, reply) => {
    const code = err instanceof RefError ? err.code : 'INTERNAL';
    const status = err instanceof RefError ? err.status : 500;
    void reply.status(status).send({ error: { json: { message: code, code: -32000, data: { code } } } });
  });

  app.get('/trpc/organization.current', async (req, reply) =>
    send(reply, await queries.current(bearerHash(req.headers.authorization))),
  );

  app.get<{ Querystring: { input?: string } }>('/trpc/documents.get', async (req, reply) => {
    const hash = bearerHash(req.headers.authorization);
    return send(reply, await queries.get(hash, parseInput(req.query.input, documentIdInput)));
  });

  app.get<{ Querystring: { input?: string } }>('/trpc/documents.list', async (req, reply) => {
    const hash = bearerHash(req.headers.authorization);
    return send(reply, await queries.list(hash, parseInput(req.query.input, listDocumentsInput)));
  });

  app.addHook('onClose', () => pool.end());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}
