import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/errors.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { runWithRequestStats } from '../../platform/metrics/request-stats.ts';
import { failureCode } from '../../test/errors.ts';
import { addMember, callerWithToken, createOrg, tokenFor, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { readDocumentPage, readVisibleDocument } from './documents.reads.ts';
import { findVisibleDocument, toOutput } from './documents.service.ts';

// documents.get and documents.list read plain SQL outside the ORM (documents.reads.ts): the tenant condition in the
// SQL and row-level security on the connection must each keep other tenants' rows out, and a warm request must
// still be one statement. One pooled connection, so "the connection already carries the tenant" is a fact.
let env: TestEnv;
let a: TestOrg;
let b: TestOrg;
let ownerA: ReturnType<typeof callerWithToken>;
let memberA: ReturnType<typeof callerWithToken>;
let ownerB: ReturnType<typeof callerWithToken>;
let aPublic: string;
let aPrivate: string;
let bPublic: string;

beforeAll(async () => {
  env = await createTestEnv({ DB_POOL_MAX: '1' });
  a = await createOrg(env.deps, 'Reads A');
  b = await createOrg(env.deps, 'Reads B');
  ownerA = callerWithToken(env.deps, await tokenFor(env.deps, a.id, a.owner));
  const member = await addMember(env.deps, a.id, 'member');
  memberA = callerWithToken(env.deps, await tokenFor(env.deps, a.id, member, ['read'], 'member'));
  ownerB = callerWithToken(env.deps, await tokenFor(env.deps, b.id, b.owner));
  aPublic = (await ownerA.documents.create({ title: 'A public', content: 'a' })).id;
  aPrivate = (await ownerA.documents.create({ title: 'A private', content: 'p', public: false })).id;
  for (let i = 0; i < 3; i++) await ownerA.documents.create({ title: `A ${i}`, content: '' });
  bPublic = (await ownerB.documents.create({ title: 'B public', content: 'b' })).id;
  await ownerB.documents.create({ title: 'B private', content: '', public: false });
});
afterAll(() => env.close());

/** Every id the caller's list returns, page after page. */
async function listAll(caller: ReturnType<typeof callerWithToken>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: { id: string }[]; nextCursor: string | null } = await caller.documents.list({
      limit: 2,
      cursor,
    });
    ids.push(...page.items.map((d) => d.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

/** The ids of an organization's documents, read as the owner (no tenant, no RLS). */
const idsOf = (organizationId: string, where = 'true') =>
  withDbScope(env.deps.em, undefined, async (em) =>
    (
      await em
        .getConnection()
        .execute<{ id: string }[]>(`select id from documents where organization_id = ? and ${where}`, [
          organizationId,
        ])
    ).map((r) => r.id),
  );

describe('documents.get and documents.list by plain SQL', () => {
  it('answers what the ORM read answers, field for field', async () => {
    const plain = await ownerA.documents.get({ id: aPrivate });
    const viaOrm = await withDbScope(env.deps.em, a.id, async (em) =>
      toOutput(await findVisibleDocument(em, a.owner.id, aPrivate, { content: true })),
    );
    expect(plain).toEqual(viaOrm);
    expect(plain.createdAt).toBeInstanceOf(Date);
    const page = await ownerA.documents.list({ limit: 100 });
    const { content: _content, ...summary } = viaOrm;
    expect(page.items.find((d) => d.id === aPrivate)).toEqual(summary);
  });

  it('a document of another organization is NOT_FOUND by id, public or not, and a private one for non-owners', async () => {
    expect(await failureCode(ownerA.documents.get({ id: bPublic }))).toBe('NOT_FOUND');
    expect(await failureCode(ownerB.documents.get({ id: aPublic }))).toBe('NOT_FOUND');
    expect(await failureCode(memberA.documents.get({ id: aPrivate }))).toBe('NOT_FOUND');
    expect((await memberA.documents.get({ id: aPublic })).id).toBe(aPublic);
  });

  it("a list holds exactly the caller's organization's visible rows, across pages", async () => {
    const ownerIds = await listAll(ownerA);
    expect(new Set(ownerIds).size).toBe(ownerIds.length);
    expect(ownerIds.sort()).toEqual((await idsOf(a.id)).sort());
    const memberIds = await listAll(memberA);
    expect(memberIds.sort()).toEqual((await idsOf(a.id, 'public')).sort());
    const bIds = await listAll(ownerB);
    expect(bIds.sort()).toEqual((await idsOf(b.id)).sort());
    expect(bIds).not.toContain(aPublic);
  });

  it("row-level security alone keeps B's rows out when the SQL's tenant condition names B inside A's scope", async () => {
    const asB = { organizationId: b.id, userId: b.owner.id };
    // The same read, scoped to B, finds the row: only the connection's scope differs below.
    const inB = await withDbScope(env.deps.em, b.id, (em) => readVisibleDocument(em, asB, bPublic));
    expect(inB.id).toBe(bPublic);
    await withDbScope(env.deps.em, a.id, async (em) => {
      await expect(readVisibleDocument(em, asB, bPublic)).rejects.toThrow(AppError);
      expect((await readDocumentPage(em, asB, { limit: 100 })).items).toEqual([]);
    });
  });

  it('refuses to run outside a tenant scope (the owner role would bypass row-level security)', async () => {
    const asA = { organizationId: a.id, userId: a.owner.id };
    await withDbScope(env.deps.em, undefined, async (em) => {
      await expect(readVisibleDocument(em, asA, aPublic)).rejects.toThrow(/tenant scope/);
      await expect(readDocumentPage(em, asA, { limit: 25 })).rejects.toThrow(/tenant scope/);
    });
  });

  it('a warm documents.get and documents.list are one database statement each', async () => {
    const statements = async (call: () => Promise<unknown>) => {
      const stats = { queries: 0, queryMs: 0 };
      await runWithRequestStats(stats, call);
      return stats.queries;
    };
    // The first calls read the principal (owner scope) and switch the connection to A; the next ones find both done.
    await ownerA.documents.get({ id: aPublic });
    expect(await statements(() => ownerA.documents.get({ id: aPublic }))).toBe(1);
    await ownerA.documents.list({ limit: 25 });
    expect(await statements(() => ownerA.documents.list({ limit: 25 }))).toBe(1);
  });
});
