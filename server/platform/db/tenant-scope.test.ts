import { describe, expect, it } from 'vitest';
import { scopeOf, switchStatement } from './tenant-scope.ts';

const tenant = (id: string) =>
  scopeOf({ role: 'keel_app', variables: { 'mikro.tenant.organizationId': id } });
const owner = scopeOf(undefined);

describe('switchStatement', () => {
  it('sends nothing when the connection already carries the scope', () => {
    expect(switchStatement(tenant('a'), tenant('a'))).toBeUndefined();
    expect(switchStatement(owner, owner)).toBeUndefined();
  });

  it('switches tenant and role in one statement with bound values', () => {
    expect(switchStatement(tenant('a'), tenant('b'))).toEqual({
      sql: 'select set_config($1, $2, false), set_config($3, $4, false)',
      params: ['mikro.tenant.organizationId', 'b', 'role', 'keel_app'],
    });
  });

  it('back to the owner empties the tenant variable and resets the role', () => {
    expect(switchStatement(tenant('a'), owner)?.params).toEqual([
      'mikro.tenant.organizationId',
      '',
      'role',
      'none',
    ]);
  });

  it('a connection in an unknown state is always switched', () => {
    expect(switchStatement(undefined, owner)?.params).toEqual(['role', 'none']);
    expect(switchStatement(undefined, tenant('a'))?.params).toEqual([
      'mikro.tenant.organizationId',
      'a',
      'role',
      'keel_app',
    ]);
  });

  it('serialises dates as ISO 8601 like MikroORM does', () => {
    const at = new Date('2026-12-06T00:00:00Z');
    expect(scopeOf({ variables: { at } }).variables).toEqual({ at: at.toISOString() });
  });
});
