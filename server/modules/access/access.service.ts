import { timingSafeEqual } from 'node:crypto';
import { AppError } from '../../../shared/errors.ts';
import { effectiveAbilities, type Ability } from '../../../shared/permissions.ts';
import type { Em } from '../../platform/db/context.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import { hashTokenSecret, TOKEN_PREFIX } from '../auth/auth.service.ts';
import { sessionAccessKey, type SessionStore } from '../auth/session.store.ts';
import type { PrincipalCache } from './principal-cache.ts';
import { accessKey, type AccessChange } from './access-change.ts';
import {
  readMember,
  readTokenByHash,
  readUser,
  touchToken,
  touchUser,
  type MemberRow,
  type Membership,
  type Principal,
} from './principal.ts';

/** How the caller's credentials arrived (the tRPC context, a WebSocket's connection params, /readyz's cookie). */
export interface CredentialsIn {
  bearer: string | null;
  sessionId: string | null;
}

/** An organization named by id, or by the slug of its `<slug>.<APP_DOMAIN>` address. */
export type OrganizationRef = string | { slug: string };

const TOKEN_TOUCH_MS = 60_000;
const USER_TOUCH_MS = 5 * 60_000;

const sessionExpired = () => new AppError('SESSION_EXPIRED', 'Your session has expired, sign in again');

const isPrincipal = (v: unknown): v is Principal => typeof v === 'object' && v !== null && 'via' in v;
const isMemberRow = (v: unknown): v is MemberRow => typeof v === 'object' && v !== null && 'role' in v;

export interface AccessServiceDeps {
  /** The root EntityManager: its connection runs the access reads (plain SQL, outside any unit of work). */
  em: Em;
  sessions: SessionStore;
  cache: PrincipalCache;
  /** Ends live subscriptions depending on revoked keys (Realtime.revoke). */
  revokeLive: (keys: string[]) => Promise<void>;
  sessionTtlSeconds: number;
  logger?: Logger;
}

/**
 * The one access policy: credentials → principal, principal + organization → membership. Every tRPC procedure,
 * every subscription start and recheck, and /readyz ask it, so there is one set of rules and one cache.
 */
export class AccessService {
  constructor(private readonly d: AccessServiceDeps) {}

  /** The caller behind the credentials (a bearer token wins over a session cookie); AUTH_REQUIRED without any. */
  async principalOf(credentials: CredentialsIn): Promise<Principal> {
    if (credentials.bearer) return this.tokenPrincipal(credentials.bearer);
    if (credentials.sessionId) return this.sessionPrincipal(credentials.sessionId);
    throw new AppError('AUTH_REQUIRED', 'Sign in or send an API token');
  }

  private async tokenPrincipal(secret: string): Promise<Principal> {
    if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 100) {
      throw new AppError('TOKEN_INVALID', 'The API token is not valid');
    }
    const tokenHash = hashTokenSecret(secret);
    const principal = await this.d.cache.read(
      `token:${tokenHash}`,
      async () => {
        const row = await readTokenByHash(this.d.em, tokenHash);
        if (!row || !timingSafeEqual(Buffer.from(row.token.tokenHash), Buffer.from(tokenHash))) {
          throw new AppError('TOKEN_INVALID', 'The API token is not valid');
        }
        const { revokedAt, tokenHash: _hash, ...token } = row.token;
        if (revokedAt) throw new AppError('TOKEN_REVOKED', 'The API token has been revoked');
        if (token.expiresAt && token.expiresAt.getTime() <= Date.now()) {
          throw new AppError('TOKEN_EXPIRED', 'The API token has expired');
        }
        const value: Principal = { user: row.user, via: 'token', token, sessionId: null };
        // Never served past its expiry: the entry ends then, and the next read finds the token expired.
        return {
          value,
          tags: [accessKey.token(token.id), accessKey.user(row.user.id)],
          until: token.expiresAt?.getTime() ?? null,
        };
      },
      isPrincipal,
    );
    if (!principal?.token) throw new AppError('TOKEN_INVALID', 'The API token is not valid');
    const token = principal.token;
    const now = new Date();
    if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > TOKEN_TOUCH_MS) {
      token.lastUsedAt = now;
      await touchToken(this.d.em, token.id, now);
    }
    return principal;
  }

  private async sessionPrincipal(sessionId: string): Promise<Principal> {
    const principal = await this.d.cache.read(
      sessionAccessKey(sessionId),
      async () => {
        const session = await this.d.sessions.get(sessionId).catch(() => {
          throw new AppError('SERVICE_UNAVAILABLE', 'Sessions are unavailable, try again shortly');
        });
        if (!session) return null;
        const user = await readUser(this.d.em, session.userId);
        if (!user) return null;
        const value: Principal = { user, via: 'session', token: null, sessionId };
        return {
          value,
          tags: [sessionAccessKey(sessionId), accessKey.user(user.id)],
          // Redis ends the session at createdAt + TTL (the key was written after createdAt was taken).
          until: session.createdAt + this.d.sessionTtlSeconds * 1000,
        };
      },
      isPrincipal,
    );
    if (!principal) throw sessionExpired();
    const user = principal.user;
    const now = new Date();
    if (!user.lastActiveAt || now.getTime() - user.lastActiveAt.getTime() > USER_TOUCH_MS) {
      user.lastActiveAt = now;
      await touchUser(this.d.em, user.id, now);
    }
    return principal;
  }

  /** The principal's membership of the organization, or null when there is none (or no such organization). */
  async membershipOf(principal: Principal, organization: OrganizationRef): Promise<Membership | null> {
    const ref = typeof organization === 'string' ? { id: organization } : organization;
    const userId = principal.user.id;
    const row = await this.d.cache.read(
      'id' in ref ? `member:id:${ref.id}:${userId}` : `member:slug:${ref.slug}:${userId}`,
      async () => {
        const value = await readMember(this.d.em, ref, userId);
        if (!value) return null;
        const orgId = value.organization.id;
        return {
          value,
          tags: [accessKey.org(orgId), accessKey.member(orgId, userId), accessKey.user(userId)],
        };
      },
      isMemberRow,
    );
    if (!row) return null;
    return {
      ...row,
      abilities: effectiveAbilities(row.role, principal.token ? principal.token.abilities : null),
    };
  }

  /**
   * The membership a request or a subscription may act in, or the typed refusal: not a member, suspended (unless
   * `allowSuspended`: billing lets an owner pay), or lacking `ability`.
   */
  async requireMembership(
    principal: Principal,
    organization: OrganizationRef,
    opts: { allowSuspended?: boolean; ability?: Ability | null } = {},
  ): Promise<Membership> {
    const membership = await this.membershipOf(principal, organization);
    if (!membership) {
      // One answer whether the organization at an address does not exist or is not the caller's: an address must
      // not tell outsiders which organizations exist (issue 17 finding 11).
      if (typeof organization !== 'string')
        throw new AppError('NOT_FOUND', 'No organization at this address');
      throw new AppError('NOT_A_MEMBER', 'You are not a member of this organization');
    }
    if (membership.suspended && !opts.allowSuspended) {
      throw new AppError(
        'TENANT_SUSPENDED',
        'This organization is suspended; contact support or update billing',
      );
    }
    if (opts.ability) requireAbility(membership, opts.ability);
    return membership;
  }

  /**
   * Applies a change that can remove access: every process drops the cached principals and memberships under these
   * keys (and has confirmed it) before the live subscriptions depending on the revoked keys are told to recheck.
   */
  async invalidate(change: AccessChange): Promise<void> {
    await this.d.cache.invalidate([...change.revoked, ...(change.changed ?? [])]);
    if (change.revoked.length) await this.d.revokeLive(change.revoked);
  }

  /** Ends one browser session everywhere: in Redis, in every process's cache, and its live subscriptions. */
  async endSession(sessionId: string): Promise<void> {
    await this.d.sessions.destroy(sessionId);
    await this.invalidate({ revoked: [sessionAccessKey(sessionId)] });
  }

  /** Ends every browser session of a user (a password reset). */
  async endAllSessions(userId: string): Promise<void> {
    await this.d.sessions.destroyAllForUser(userId);
    await this.invalidate({ revoked: [accessKey.user(userId)] });
  }
}

export function requireAbility(membership: Pick<Membership, 'abilities'>, ability: Ability): void {
  if (!membership.abilities.includes(ability)) {
    throw new AppError('ABILITY_MISSING', `This action needs the "${ability}" ability`, { ability });
  }
}

/**
 * Operations console: staff users only, and only through a signed-in session. An API token is a tenant credential:
 * it carries the abilities it was granted in one organization and nothing else.
 */
export function requireStaff(principal: Principal): void {
  if (!principal.user.staff) throw new AppError('STAFF_ONLY', 'Staff only');
  if (principal.token) {
    throw new AppError('STAFF_ONLY', 'Operations need a signed-in staff session; API tokens cannot be used');
  }
}
