/**
 * What the route walk (e2e/route-walk.spec.ts) needs beyond the demo logins: an admin of Acme (the demo has owner
 * and member only) and documents with a version history, so the documents list and a document page show content
 * for every role. Only in end-to-end databases; documents go through the same service the API uses.
 */
import type { AppDeps } from '../server/deps.ts';
import { hashPassword } from '../server/modules/auth/password.ts';
import { User } from '../server/modules/auth/user.entity.ts';
import { DEMO_PASSWORD } from '../server/modules/demo/demo.seed.ts';
import { createDocument, updateDocument } from '../server/modules/documents/documents.service.ts';
import { Membership } from '../server/modules/tenancy/membership.entity.ts';
import { Organization } from '../server/modules/tenancy/organization.entity.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { WALK } from './fixtures.ts';

export async function seedRouteWalk(deps: AppDeps): Promise<void> {
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const { acme, owner, adminId } = await withDbScope(deps.em, undefined, async (em) => {
    const org = await em.findOneOrFail(Organization, { slug: 'acme' });
    const ownerUser = await em.findOneOrFail(User, { email: 'owner@acme.test' });
    const admin = em.create(User, { ...WALK.admin, passwordHash, currentOrganization: org.id });
    await em.flush();
    return { acme: org.id, owner: { userId: ownerUser.id, name: ownerUser.name }, adminId: admin.id };
  });
  await withDbScope(deps.em, acme, async (em) => {
    em.create(Membership, { organization: acme, user: adminId, role: 'admin' });
    await em.flush();
  });
  const events = { log: deps.realtime.log, logger: deps.logger };
  for (const [title, content, edit] of WALK.documents) {
    await withDbScope(deps.em, acme, async (em) => {
      const doc = await createDocument(em, events, acme, owner, { title, content, public: true });
      await updateDocument(em, events, acme, owner, { id: doc.id, baseVersion: doc.version, content: edit });
    });
  }
  // Other specs expect the demo's own activity ("joined the organization") at the head of Acme's feed: these
  // documents' entries are dated a day back, behind it.
  await deps.em
    .getConnection()
    .execute(
      `update activity_log set created_at = created_at - interval '1 day' where organization_id = ? and subject_type = 'document'`,
      [acme],
    );
}
