import { withDbScope, type Em } from '../../platform/db/context.ts';
import { recordActivity } from '../activity/activity.service.ts';
import { hashPassword } from '../auth/password.ts';
import { User } from '../auth/user.entity.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

export const DEMO_PASSWORD = 'keel-demo-password';

/** The logins `keel seed` creates (and `keel dev` prints); the README's table lists the same. */
export const DEMO_LOGINS = [
  { role: 'owner of Acme', email: 'owner@acme.test' },
  { role: 'admin of Acme', email: 'admin@acme.test' },
  { role: 'member of Acme', email: 'member@acme.test' },
  { role: 'owner of Globex', email: 'owner@globex.test' },
  { role: 'owner of Initech', email: 'owner@initech.test' },
  { role: 'staff operator', email: 'ops@keel.test' },
] as const;

interface DemoOrg {
  name: string;
  slug: string;
  tier: 'free' | 'professional' | 'enterprise';
  people: { email: string; name: string; role: 'owner' | 'admin' | 'member' }[];
}

const ORGS: DemoOrg[] = [
  {
    name: 'Acme',
    slug: 'acme',
    tier: 'professional',
    people: [
      { email: 'owner@acme.test', name: 'Olivia Owner', role: 'owner' },
      { email: 'member@acme.test', name: 'Max Member', role: 'member' },
    ],
  },
  {
    name: 'Globex',
    slug: 'globex',
    tier: 'enterprise',
    people: [{ email: 'owner@globex.test', name: 'Gina Globex', role: 'owner' }],
  },
];

/**
 * The demo organizations and logins the browser tests rely on (no other content), once; running it again changes
 * nothing. `seedDemo` (modules/demo/demo.content.ts) builds the full demo on top of it.
 */
export async function seedDemoLogins(rootEm: Em): Promise<{ created: boolean }> {
  const em = rootEm.fork();
  if (await em.count(User, { email: 'owner@acme.test' })) return { created: false };
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const users = new Map<string, string>();
  await withDbScope(rootEm, undefined, async (scoped) => {
    const ops = scoped.create(User, {
      email: 'ops@keel.test',
      name: 'Oscar Operator',
      passwordHash,
      staff: true,
    });
    users.set(ops.email, ops.id);
    for (const o of ORGS) {
      for (const p of o.people) {
        const u = scoped.create(User, { email: p.email, name: p.name, passwordHash });
        users.set(p.email, u.id);
      }
    }
    await scoped.flush();
  });
  for (const o of ORGS) {
    const org = await withDbScope(rootEm, undefined, async (scoped) => {
      const created = scoped.create(Organization, {
        name: o.name,
        slug: o.slug,
        tier: o.tier,
        billingEmail: o.people[0]!.email,
        settings: {},
      });
      await scoped.flush();
      return created;
    });
    await withDbScope(rootEm, org.id, async (scoped) => {
      for (const p of o.people) {
        const userId = users.get(p.email)!;
        scoped.create(Membership, { organization: org.id, user: userId, role: p.role });
        recordActivity(scoped, {
          organizationId: org.id,
          userId,
          action: 'member.joined',
          metadata: { role: p.role },
        });
      }
      await scoped.flush();
      await scoped.nativeUpdate(
        User,
        { email: { $in: o.people.map((p) => p.email) } },
        { currentOrganization: org.id },
      );
    });
  }
  return { created: true };
}
