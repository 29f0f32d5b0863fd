import { AppError } from '../../../shared/errors.ts';
import type { DocumentOutput, DocumentSummary } from '../../../shared/schemas/documents.ts';
import { currentOrganizationId, type Em } from '../../platform/db/context.ts';

// documents.get and documents.list read plain rows by SQL and map them straight to the output shape, outside the
// unit of work: hydrating Document entities (and their owners) cost most of these calls' CPU (issue 20, ADR 0070).
// Isolation holds in both layers without the ORM's filter: the statement runs on a connection switched to the
// tenant's scope (the `keel_app` role and the tenant variable, ADR 0012), so row-level security applies to it, and
// the tenant filter's condition (`organization_id = <the scope's tenant>`) is written into the SQL. Nothing read here
// enters an identity map, so nothing can be flushed from it. Writes, subscriptions and every other read of a document
// keep the ORM (documents.service.ts). Both ask for the 'read' connection, as the ORM's own reads do: a replica that
// has replayed the caller's writes when replicas are configured (ADR 0013), else the primary.

const SUMMARY_COLUMNS = `d.id, d.title, d.version, d.public, d.owner_id, u.name as owner_name, d.updated_by_id,
  d.created_at, d.updated_at`;

interface SummaryRow {
  id: string;
  title: string;
  version: number;
  public: boolean;
  owner_id: string;
  owner_name: string;
  updated_by_id: string | null;
  // MikroORM's pg type parsers keep timestamps as PostgreSQL's text.
  created_at: Date | string;
  updated_at: Date | string;
}

function summaryOf(r: SummaryRow): DocumentSummary {
  return {
    id: r.id,
    title: r.title,
    version: r.version,
    public: r.public,
    ownerId: r.owner_id,
    ownerName: r.owner_name,
    updatedById: r.updated_by_id,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

/** Who reads: the member (`userId`) of the tenant the request entered (`organizationId`, ctx.tenant's). */
export interface Reader {
  organizationId: string;
  userId: string;
}

/**
 * The tenant condition for the SQL, once the request's database scope is known to be a tenant's (so the statement
 * runs as `keel_app` under row-level security). Outside one the read fails closed, as the ORM's tenant filter does:
 * the owner role would bypass RLS and leave the WHERE clause as the only guard.
 */
function tenantOf(reader: Reader): string {
  if (!currentOrganizationId())
    throw new Error('A tenant read needs a tenant scope (enterTenant / withDbScope)');
  return reader.organizationId;
}

/** The document with its content, if the reader may see it (see canSee), else NOT_FOUND. One statement. */
export async function readVisibleDocument(em: Em, reader: Reader, id: string): Promise<DocumentOutput> {
  const [row] = await em.getConnection('read').execute<(SummaryRow & { content: string })[]>(
    `select ${SUMMARY_COLUMNS}, d.content
       from documents d join users u on u.id = d.owner_id
      where d.organization_id = ? and d.id = ? and (d.public or d.owner_id = ?)`,
    [tenantOf(reader), id, reader.userId],
  );
  if (!row) throw new AppError('NOT_FOUND', 'Document not found');
  return { ...summaryOf(row), content: row.content };
}

/** `updatedAt|id` of the last item of the previous page (the input schema has checked its form). */
function parseCursor(cursor: string): { updatedAt: Date; id: string } {
  const [at, id] = cursor.split('|');
  const updatedAt = new Date(at ?? '');
  if (!id || Number.isNaN(updatedAt.getTime())) {
    throw new AppError('VALIDATION_FAILED', 'Invalid cursor', { fieldErrors: { cursor: ['is not valid'] } });
  }
  return { updatedAt, id };
}

/**
 * A page of the documents the reader may see, newest change first, in keyset order (`updatedAt`, then id, both
 * descending); `nextCursor` when there are more. One statement: limit + 1 rows tell whether a next page exists.
 */
export async function readDocumentPage(
  em: Em,
  reader: Reader,
  input: { limit: number; cursor?: string | null | undefined },
): Promise<{ items: DocumentSummary[]; nextCursor: string | null }> {
  const after = input.cursor ? parseCursor(input.cursor) : null;
  const rows = await em.getConnection('read').execute<SummaryRow[]>(
    `select ${SUMMARY_COLUMNS}
       from documents d join users u on u.id = d.owner_id
      where d.organization_id = ? and (d.public or d.owner_id = ?)
        ${after ? 'and (d.updated_at < ? or (d.updated_at = ? and d.id < ?))' : ''}
      order by d.updated_at desc, d.id desc
      limit ?`,
    [
      tenantOf(reader),
      reader.userId,
      ...(after ? [after.updatedAt, after.updatedAt, after.id] : []),
      input.limit + 1,
    ],
  );
  const items = rows.slice(0, input.limit).map(summaryOf);
  const last = items[items.length - 1];
  return {
    items,
    nextCursor: rows.length > input.limit && last ? `${last.updatedAt.toISOString()}|${last.id}` : null,
  };
}
