import { randomBytes } from 'node:crypto';
import { ROLE_ABILITIES, type Ability, type Role } from '../../shared/permissions.ts';
import type { AppDeps } from '../deps.ts';
import { createAccount, createToken } from '../modules/auth/auth.service.ts';
import { hashPassword } from '../modules/auth/password.ts';
import { User } from '../modules/auth/user.entity.ts';
import { Membership } from '../modules/tenancy/membership.entity.ts';
import { withDbScope } from '../platform/db/context.ts';
import { createCallerFactory } from '../trpc/init.ts';
import { createInnerContext, type InnerContextOptions } from '../trpc/context.ts';
import { appRouter } from '../trpc/router.ts';

export const PASSWORD = 'correct horse battery staple';
const unique = () => randomBytes(4).toString('hex');

export interface TestUser {
  id: string;
  email: string;
}

export interface TestOrg {
  id: string;
  owner: TestUser;
}

let hashed: Promise<string> | undefined;
const passwordHash = () => (hashed ??= hashPassword(PASSWORD));

/** A fresh organization with an owner, created as a confirmed registration creates it. */
export async function createOrg(deps: AppDeps, name = `Org ${unique()}`): Promise<TestOrg> {
  const email = `owner-${unique()}@example.test`;
  const { user, organizationId } = await createAccount(deps.em, {
    email,
    passwordHash: await passwordHash(),
    name: 'Owner',
    organizationName: name,
  });
  return { id: organizationId, owner: { id: user.id, email } };
}

/** A new user who belongs to the organization with the given role. */
export async function addMember(
  deps: AppDeps,
  organizationId: string,
  role: Role = 'member',
): Promise<TestUser> {
  const email = `${role}-${unique()}@example.test`;
  const user = await withDbScope(deps.em, undefined, async (em) => {
    const u = em.create(User, {
      email,
      name: `A ${role}`,
      passwordHash: await passwordHash(),
      currentOrganization: organizationId,
    });
    await em.flush();
    return u;
  });
  await withDbScope(deps.em, organizationId, async (em) => {
    em.create(Membership, { organization: organizationId, user: user.id, role });
    await em.flush();
  });
  return { id: user.id, email };
}

export async function createStaff(deps: AppDeps): Promise<TestUser> {
  const email = `staff-${unique()}@example.test`;
  return withDbScope(deps.em, undefined, async (em) => {
    const u = em.create(User, { email, name: 'Staff', passwordHash: await passwordHash(), staff: true });
    await em.flush();
    return { id: u.id, email };
  });
}

export async function tokenFor(
  deps: AppDeps,
  organizationId: string,
  user: TestUser,
  abilities: Ability[] = ['read', 'write'],
  role: Role = 'owner',
): Promise<string> {
  return withDbScope(deps.em, organizationId, async (em) => {
    const { secret } = await createToken(em, {
      organizationId,
      userId: user.id,
      grantorAbilities: ROLE_ABILITIES[role],
      name: 'test',
      abilities,
    });
    return secret;
  });
}

const createCaller = createCallerFactory(appRouter);

/** A tRPC caller acting as the user through a real session in Redis. */
export async function callerAs(deps: AppDeps, user: TestUser | null, opts: InnerContextOptions = {}) {
  const sessionId = user ? await deps.sessions.create(user.id) : null;
  return createCaller(createInnerContext(deps, { ...opts, credentials: { sessionId, ...opts.credentials } }));
}

/** A tRPC caller authenticated by an API token secret. */
export function callerWithToken(deps: AppDeps, secret: string, opts: InnerContextOptions = {}) {
  return createCaller(createInnerContext(deps, { ...opts, credentials: { bearer: secret } }));
}
