import type { AppDeps } from '../../app-deps.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { hashPassword } from '../auth/password.ts';
import { DEMO_PASSWORD } from './demo.seed.ts';

export interface LargeSeedOptions {
  organizations: number;
  usersPerOrganization: number;
}

/** `keel seed --size large`: 100 organizations of 100 users each (the first an owner), for load tests. */
export const LARGE_SEED: LargeSeedOptions = { organizations: 100, usersPerOrganization: 100 };

/**
 * Organizations `load-0001…`, users `user-<org>-<n>@load.test` (demo password) and their memberships, each table
 * in one INSERT … SELECT over generate_series (as the schema owner, like a migration: one statement per table
 * instead of 10,000 ORM inserts). `on conflict do nothing` makes a second run add nothing.
 */
export async function seedLarge(
  deps: AppDeps,
  opts: LargeSeedOptions = LARGE_SEED,
): Promise<{ organizations: number; users: number; memberships: number; ms: number }> {
  const started = Date.now();
  // One hash for every load user: argon2id costs tens of milliseconds each by design.
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  return withDbScope(deps.em, undefined, async (em) => {
    const sql = em.getConnection();
    const pad = (col: string) => `lpad(${col}::text, 4, '0')`;
    const organizations = await sql.execute(
      `insert into organizations (id, name, slug, tier, active, settings, created_at, updated_at)
       select gen_random_uuid(), 'Load ' || ${pad('o')}, 'load-' || ${pad('o')},
              (array['free','professional','enterprise'])[1 + o % 3], true, '{}', now(), now()
       from generate_series(1, ?) as o
       on conflict (slug) do nothing`,
      [opts.organizations],
      'run',
    );
    const users = await sql.execute(
      `insert into users (id, email, name, password_hash, staff, current_organization_id, timezone, created_at, updated_at)
       select gen_random_uuid(), 'user-' || ${pad('o')} || '-' || ${pad('u')} || '@load.test',
              'Load user ' || o || '.' || u, ?, false, org.id, 'UTC', now(), now()
       from generate_series(1, ?) as o
       cross join generate_series(1, ?) as u
       join organizations org on org.slug = 'load-' || ${pad('o')}
       on conflict (email) do nothing`,
      [passwordHash, opts.organizations, opts.usersPerOrganization],
      'run',
    );
    const memberships = await sql.execute(
      `insert into memberships (id, organization_id, user_id, role, created_at)
       select gen_random_uuid(), u.current_organization_id, u.id,
              case when u.email like '%-0001@load.test' then 'owner' else 'member' end, now()
       from users u
       where u.email like 'user-%@load.test' and u.current_organization_id is not null
       on conflict (organization_id, user_id) do nothing`,
      [],
      'run',
    );
    const affected = (r: unknown) =>
      typeof r === 'object' && r !== null && 'affectedRows' in r ? Number(r.affectedRows) : 0;
    return {
      organizations: affected(organizations),
      users: affected(users),
      memberships: affected(memberships),
      ms: Date.now() - started,
    };
  });
}
