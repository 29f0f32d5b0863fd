import type { Ability, Role } from '../../../shared/permissions.ts';
import type { OrganizationTier } from '../../../shared/schemas/tenancy.ts';
import type { Em } from '../../platform/db/context.ts';
import { tenantSettings, type TenantSettings } from '../tenancy/tenant-settings.ts';

/** The signed-in user as every access decision needs it (no entity: it is read by plain SQL and cached). */
export interface PrincipalUser {
  id: string;
  email: string;
  name: string;
  staff: boolean;
  timezone: string;
  currentOrganizationId: string | null;
  lastActiveAt: Date | null;
}

export interface PrincipalToken {
  id: string;
  /** A token is bound to one organization. */
  organizationId: string;
  abilities: Ability[];
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

/** Who is calling, and with which credential. Shared between requests while cached: read-only by convention. */
export interface Principal {
  user: PrincipalUser;
  via: 'session' | 'token';
  /** Present when the caller used an API token. */
  token: PrincipalToken | null;
  /** Present when the caller used a browser session. */
  sessionId: string | null;
}

export interface AccessOrganization {
  id: string;
  slug: string;
  name: string;
  tier: OrganizationTier;
  active: boolean;
  billingEmail: string | null;
}

/** A principal's standing in one organization. */
export interface Membership {
  organization: AccessOrganization;
  role: Role;
  /** The role's abilities, intersected with the token's when the principal is a token. */
  abilities: Ability[];
  settings: TenantSettings;
  suspended: boolean;
}

/** What is cached per (organization, user): everything in Membership but the credential-dependent abilities. */
export type MemberRow = Omit<Membership, 'abilities'>;

export interface TokenRow {
  token: PrincipalToken & { revokedAt: Date | null; tokenHash: string };
  user: PrincipalUser;
}

// One statement each, read by the root connection outside any tenant scope and outside the unit of work: these
// rows decide whether a request may enter a tenant, and are keyed by the credential (the token's hash) or by the
// user themselves, so no other tenant's data can be reached through them (ADR 0070).
const USER_COLUMNS = `u.id, u.email, u.name, u.staff, u.timezone, u.current_organization_id, u.last_active_at`;

interface UserRecord {
  id: string;
  email: string;
  name: string;
  staff: boolean;
  timezone: string;
  current_organization_id: string | null;
  last_active_at: Date | string | null;
}

const date = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

function userOf(r: UserRecord): PrincipalUser {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    staff: r.staff,
    timezone: r.timezone,
    currentOrganizationId: r.current_organization_id,
    lastActiveAt: date(r.last_active_at),
  };
}

async function rows<T>(em: Em, sql: string, params: unknown[]): Promise<T[]> {
  return em.getConnection().execute<T[]>(sql, params);
}

export async function readTokenByHash(em: Em, tokenHash: string): Promise<TokenRow | null> {
  const [r] = await rows<
    UserRecord & {
      token_id: string;
      organization_id: string;
      abilities: Ability[];
      expires_at: Date | string | null;
      revoked_at: Date | string | null;
      last_used_at: Date | string | null;
      token_hash: string;
    }
  >(
    em,
    `select t.id as token_id, t.organization_id, t.abilities, t.expires_at, t.revoked_at, t.last_used_at,
            t.token_hash, ${USER_COLUMNS}
       from api_tokens t join users u on u.id = t.user_id
      where t.token_hash = ?`,
    [tokenHash],
  );
  if (!r) return null;
  return {
    token: {
      id: r.token_id,
      organizationId: r.organization_id,
      abilities: r.abilities,
      expiresAt: date(r.expires_at),
      lastUsedAt: date(r.last_used_at),
      revokedAt: date(r.revoked_at),
      tokenHash: r.token_hash,
    },
    user: userOf(r),
  };
}

export async function readUser(em: Em, userId: string): Promise<PrincipalUser | null> {
  const [r] = await rows<UserRecord>(em, `select ${USER_COLUMNS} from users u where u.id = ?`, [userId]);
  return r ? userOf(r) : null;
}

/** The user's membership in the organization with this id, or at this slug; null for both "no such" cases. */
export async function readMember(
  em: Em,
  organization: { id: string } | { slug: string },
  userId: string,
): Promise<MemberRow | null> {
  const [column, value] = 'id' in organization ? ['o.id', organization.id] : ['o.slug', organization.slug];
  const [r] = await rows<{
    role: Role;
    id: string;
    slug: string;
    name: string;
    tier: OrganizationTier;
    active: boolean;
    billing_email: string | null;
    settings: Record<string, unknown> | string | null;
  }>(
    em,
    `select m.role, o.id, o.slug, o.name, o.tier, o.active, o.billing_email, o.settings
       from memberships m join organizations o on o.id = m.organization_id
      where m.user_id = ? and ${column} = ?`,
    [userId, value],
  );
  if (!r) return null;
  const settings: Record<string, unknown> =
    typeof r.settings === 'string' ? (JSON.parse(r.settings) as Record<string, unknown>) : (r.settings ?? {});
  return {
    organization: {
      id: r.id,
      slug: r.slug,
      name: r.name,
      tier: r.tier,
      active: r.active,
      billingEmail: r.billing_email,
    },
    role: r.role,
    settings: tenantSettings({ settings }),
    suspended: !r.active,
  };
}

/** "Last used" and "last active" need minute precision, not request precision: one write a minute at most. */
export async function touchToken(em: Em, tokenId: string, at: Date): Promise<void> {
  await em.getConnection().execute(`update api_tokens set last_used_at = ? where id = ?`, [at, tokenId]);
}

export async function touchUser(em: Em, userId: string, at: Date): Promise<void> {
  await em.getConnection().execute(`update users set last_active_at = ? where id = ?`, [at, userId]);
}
