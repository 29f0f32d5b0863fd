import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { AppError } from '../../../shared/errors.ts';
import { abilitiesNotHeld, effectiveAbilities, type Ability } from '../../../shared/permissions.ts';
import type { MeOutput } from '../../../shared/schemas/auth.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import type { Backoff } from '../../platform/rate-limit/backoff.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { recordActivity } from '../activity/activity.service.ts';
import type { PrincipalToken, PrincipalUser } from '../access/principal.ts';
import { accessKey } from '../access/access-change.ts';
import { announceRevocation } from '../realtime/access-watcher.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { organizationsOfUser, setCurrentOrganization, uniqueSlug } from '../tenancy/tenancy.service.ts';
import { ApiToken, type IApiToken } from './api-token.entity.ts';
import { burnPasswordCheck, verifyPassword } from './password.ts';
import { User, type IUser } from './user.entity.ts';

export interface AccountInput {
  email: string;
  /** Hashed by the caller: a confirmed registration hashed it when the form was sent. */
  passwordHash: string;
  name: string;
  organizationName: string;
}

export interface NewAccount {
  user: IUser;
  organizationId: string;
}

const emailTaken = () =>
  new AppError('EMAIL_TAKEN', 'An account with this email already exists: sign in or reset your password', {
    fieldErrors: { email: ['is already registered'] },
  });

/** Whether a violation hit this unique constraint (PostgreSQL names it in the error and its message). */
const violated = (err: UniqueConstraintViolationException, constraint: string) =>
  (err as { constraint?: unknown }).constraint === constraint || err.message.includes(`"${constraint}"`);

/**
 * Creates a user, their organization and the owner membership in one transaction; `inTransaction` runs first in the
 * same transaction (a confirmation claims its link there, so a link is spent only if the account is created). The
 * up-front check is only for a friendly error; the unique constraints decide races: two confirmations for one email
 * leave one account, and two organizations that picked the same free slug at the same moment retry with another.
 * Answers EMAIL_TAKEN only to whoever proved they hold the address (a confirmation link; tests and benches): the
 * public `auth.register` never reaches here (registration.service.ts).
 */
export async function createAccount(
  rootEm: Em,
  input: AccountInput,
  inTransaction?: (tx: Em) => Promise<void>,
): Promise<NewAccount> {
  for (let attempt = 1; ; attempt++) {
    if (await rootEm.fork().count(User, { email: input.email })) throw emailTaken();
    const organizationId = randomUUID();
    try {
      return await withDbScope(rootEm, organizationId, (em) =>
        em.transactional(async (tx) => {
          await inTransaction?.(tx);
          const organization = tx.create(Organization, {
            id: organizationId,
            name: input.organizationName,
            slug: await uniqueSlug(tx, input.organizationName),
            billingEmail: input.email,
            settings: {},
          });
          const user = tx.create(User, {
            email: input.email,
            name: input.name,
            passwordHash: input.passwordHash,
            currentOrganization: organization,
          });
          tx.create(Membership, { organization, user, role: 'owner' });
          recordActivity(tx, { organizationId, userId: user.id, action: 'organization.created' });
          return { user, organizationId };
        }),
      );
    } catch (err) {
      if (!(err instanceof UniqueConstraintViolationException)) throw err;
      if (violated(err, 'users_email_unique')) throw emailTaken();
      if (!violated(err, 'organizations_slug_unique') || attempt >= 3) throw err;
    }
  }
}

/**
 * Checks an email and password. With `backoff`, repeated failures for one address (whether or not an account has
 * it, so the delay tells nothing) delay the next try exponentially: while the delay runs the try is refused
 * unjudged with RATE_LIMITED and `retryAfter`; after it, a correct password always signs in and clears the count.
 */
export async function signIn(em: Em, email: string, password: string, backoff?: Backoff): Promise<IUser> {
  const wait = await backoff?.check(email);
  if (wait && !wait.allowed) {
    throw new AppError('RATE_LIMITED', `Too many failed sign-ins, retry in ${wait.retryAfter} s`, {
      retryAfter: wait.retryAfter,
      policy: 'sign_in_backoff',
    });
  }
  const user = await em.findOne(User, { email }, { populate: ['passwordHash'] });
  let ok = false;
  if (user) ok = await verifyPassword(user.passwordHash, password);
  else await burnPasswordCheck(password);
  if (!user || !ok) {
    await backoff?.fail(email);
    throw new AppError('INVALID_CREDENTIALS', 'Email or password is incorrect');
  }
  await backoff?.succeed(email);
  return user;
}

/** Every API token secret starts with it (secret scanners and the access check recognise tokens by it). */
export const TOKEN_PREFIX = 'keel_';
/** Tokens are stored and looked up by this hash of their secret. */
export const hashTokenSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

export interface CreateTokenInput {
  organizationId: string;
  userId: string;
  /** The effective abilities of the credential creating the token (a session: its role's; a token: its own). */
  grantorAbilities: readonly Ability[];
  name: string;
  abilities: Ability[];
  expiresInDays?: number | null | undefined;
}

export async function createToken(
  em: Em,
  input: CreateTokenInput,
): Promise<{ token: IApiToken; secret: string }> {
  const refused = abilitiesNotHeld(input.abilities, input.grantorAbilities);
  if (refused.length) {
    throw new AppError(
      'ABILITY_MISSING',
      `You cannot grant abilities you do not hold: ${refused.join(', ')}`,
      {
        fieldErrors: { abilities: [`not held by you: ${refused.join(', ')}`] },
      },
    );
  }
  const secret = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const token = em.create(ApiToken, {
    organization: input.organizationId,
    user: input.userId,
    name: input.name,
    tokenHash: hashTokenSecret(secret),
    abilities: [...new Set(input.abilities)],
    expiresAt: input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null,
  });
  recordActivity(em, {
    organizationId: input.organizationId,
    userId: input.userId,
    action: 'token.created',
    subjectType: 'api_token',
    subjectId: token.id,
    metadata: { name: input.name, abilities: token.abilities },
  });
  await em.flush();
  return { token, secret };
}

export async function listTokens(em: Em, userId: string): Promise<IApiToken[]> {
  return em.find(ApiToken, { user: userId }, { orderBy: { createdAt: 'desc' } });
}

export async function revokeToken(
  em: Em,
  organizationId: string,
  userId: string,
  tokenId: string,
): Promise<void> {
  const token = await em.findOne(ApiToken, { id: tokenId, user: userId });
  if (!token) throw new AppError('NOT_FOUND', 'Token not found');
  if (!token.revokedAt) {
    token.revokedAt = new Date();
    recordActivity(em, {
      organizationId,
      userId,
      action: 'token.revoked',
      subjectType: 'api_token',
      subjectId: tokenId,
    });
    await em.flush();
  }
}

export async function revokeAllTokens(em: Em, organizationId: string, userId: string): Promise<number> {
  const count = await em.nativeUpdate(ApiToken, { user: userId, revokedAt: null }, { revokedAt: new Date() });
  recordActivity(em, { organizationId, userId, action: 'token.revoked_all', metadata: { count } });
  await em.flush();
  // A bulk update bypasses the unit of work (revokeToken's flush is seen by the AccessWatcher): every process drops
  // the user's cached principals, and live subscriptions made with these tokens end.
  await announceRevocation(em, [accessKey.user(userId)]);
  return count;
}

/**
 * Revokes every live API token of a user in every organization, in one statement outside any tenant scope (a
 * password reset ends them all). The caller announces the revocation (the user's key) once it is committed.
 */
export async function revokeEveryTokenOfUser(em: Em, userId: string): Promise<number> {
  return em.nativeUpdate(
    ApiToken,
    { user: userId, revokedAt: null },
    { revokedAt: new Date() },
    { filters: { [TENANT_FILTER]: false } },
  );
}

export interface MeSource {
  user: PrincipalUser;
  via: 'session' | 'token';
  token: Pick<PrincipalToken, 'organizationId' | 'abilities'> | null;
}

/** The signed-in user, their organizations and what they may do in the current one. Runs outside a tenant scope. */
export async function describeMe(em: Em, source: MeSource): Promise<MeOutput> {
  const organizations = await organizationsOfUser(em, source.user.id);
  const currentId = source.token ? source.token.organizationId : source.user.currentOrganizationId;
  const organization = organizations.find((o) => o.id === currentId) ?? null;
  const abilities = organization
    ? effectiveAbilities(organization.role, source.token ? source.token.abilities : null)
    : [];
  return {
    user: {
      id: source.user.id,
      email: source.user.email,
      name: source.user.name,
      staff: source.user.staff,
      timezone: source.user.timezone,
    },
    organization,
    // A token is bound to one organization; it does not reveal the others.
    organizations: source.token ? (organization ? [organization] : []) : organizations,
    abilities,
    via: source.via,
  };
}

export async function switchOrganization(em: Em, userId: string, organizationId: string): Promise<void> {
  const organizations = await organizationsOfUser(em, userId);
  if (!organizations.some((o) => o.id === organizationId)) {
    throw new AppError('NOT_A_MEMBER', 'You are not a member of this organization');
  }
  await setCurrentOrganization(em, userId, organizationId);
}
