// What each role may do, and what an API token may be granted. A token's effective abilities are the
// intersection of the abilities it was created with and those of its owner's role at the time of use, so
// demoting a user also narrows every token they hold.

export const ROLES = ['owner', 'admin', 'member'] as const;
export type Role = (typeof ROLES)[number];

export const ABILITIES = [
  'read',
  'write',
  'members:manage',
  'settings:manage',
  'tokens:manage',
  'billing:manage',
] as const;
export type Ability = (typeof ABILITIES)[number];

export const ROLE_ABILITIES: Record<Role, readonly Ability[]> = {
  owner: ABILITIES,
  admin: ['read', 'write', 'members:manage', 'settings:manage', 'tokens:manage'],
  member: ['read', 'write', 'tokens:manage'],
};

export function roleCan(role: Role, ability: Ability): boolean {
  return ROLE_ABILITIES[role].includes(ability);
}

export function effectiveAbilities(role: Role, tokenAbilities: readonly Ability[] | null): Ability[] {
  const fromRole = ROLE_ABILITIES[role];
  return tokenAbilities === null ? [...fromRole] : fromRole.filter((a) => tokenAbilities.includes(a));
}

/**
 * The abilities in `granted` that `held` lacks. Every path that hands out abilities (a new API token, an invitation
 * with a role, a role change) grants only what the calling credential holds itself — its effective abilities, not
 * its owner's role — so a token narrowed to `tokens:manage` or `members:manage` cannot mint its way back to the
 * whole role.
 */
export function abilitiesNotHeld(granted: readonly Ability[], held: readonly Ability[]): Ability[] {
  return [...new Set(granted)].filter((a) => !held.includes(a));
}

/** What giving someone the role `to` adds to what they hold with `from` (null: not a member yet). */
export function abilitiesGainedBy(to: Role, from: Role | null): Ability[] {
  const before = from ? ROLE_ABILITIES[from] : [];
  return ROLE_ABILITIES[to].filter((a) => !before.includes(a));
}
