import { describe, expect, it } from 'vitest';
import { ROLE_ABILITIES, type Role } from '../../shared/permissions.ts';
import { accessTo, ROUTES, type Viewer } from './routes.ts';

const member = (role: Role): Viewer => ({
  user: { staff: false },
  organization: { name: 'Acme', role },
  abilities: ROLE_ABILITIES[role],
});
const operator: Viewer = { user: { staff: true }, organization: null, abilities: [] };
const byId = (id: string) => ROUTES.find((r) => r.id === id)!;

describe('route table access', () => {
  it('refuses billing to a member and names who may manage it', () => {
    expect(accessTo(byId('app.billing').needs, member('member'))).toEqual({
      ok: false,
      reason: 'ability',
      ability: 'billing:manage',
      managedBy: ['owner'],
    });
    expect(accessTo(byId('app.billing').needs, member('admin')).ok).toBe(false);
    expect(accessTo(byId('app.billing').needs, member('owner')).ok).toBe(true);
  });

  it('lets every role of an organization read its pages, and nobody outside one', () => {
    for (const role of ['owner', 'admin', 'member'] as const) {
      expect(accessTo(byId('app.documents').needs, member(role)).ok).toBe(true);
      expect(accessTo(byId('app.tokens').needs, member(role)).ok).toBe(true);
    }
    expect(accessTo(byId('app.documents').needs, operator)).toEqual({ ok: false, reason: 'organization' });
    expect(accessTo(byId('app.home').needs, operator).ok).toBe(true);
  });

  it('keeps the console to staff', () => {
    for (const r of ROUTES.filter((x) => x.path.startsWith('/ops'))) {
      expect(accessTo(r.needs, member('owner'))).toEqual({ ok: false, reason: 'staff' });
      expect(accessTo(r.needs, operator).ok).toBe(true);
    }
  });

  it('has one entry per path and id', () => {
    expect(new Set(ROUTES.map((r) => r.path)).size).toBe(ROUTES.length);
    expect(new Set(ROUTES.map((r) => r.id)).size).toBe(ROUTES.length);
  });
});
