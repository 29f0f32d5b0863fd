import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { createOrg } from '../../test/factories.ts';
import { neutral, startWorkProbe, type WorkProbe } from '../../test/request-work.ts';
import { PendingRegistration } from './pending-registration.entity.ts';

// Issue 17, finding 11: a registration must not tell, by its answer or its timing, whether the address has an
// account. Proven without a timing threshold: the request issues the same Redis commands and the same number of SQL
// statements for both, and the same answer.

describe('auth.register', () => {
  let probe: WorkProbe;

  beforeAll(async () => {
    probe = await startWorkProbe();
  });
  afterAll(async () => {
    await probe?.close();
  });

  it('does the same work for an email with an account as for one without', async () => {
    const org = await createOrg(probe.env.deps);
    /**
     * The answer, the Redis commands of the request (its rate limit and its mail job, found by the pending
     * registration's id; ids and times made neutral) and its count of SQL statements.
     */
    const register = async (email: string) => {
      const { res, commands, queries } = await probe.send({
        method: 'POST',
        url: '/trpc/auth.register',
        headers: { 'content-type': 'application/json' },
        payload: {
          json: { email, password: 'a long enough password', name: 'Nora', organizationName: 'Nora Co' },
        },
      });
      expect(res.statusCode, res.body).toBe(200);
      const [pending] = await withDbScope(probe.env.deps.em, undefined, (em) =>
        em.find(PendingRegistration, { email }, { orderBy: { createdAt: 'desc' }, limit: 1 }),
      );
      return {
        body: res.body,
        commands: commands
          .filter((args) => args.some((a) => a.includes(pending!.id) || a.includes(':register:')))
          .map(neutral),
        queries,
      };
    };
    // A first request loads the scripts into Redis (EVAL, then EVALSHA): not part of the comparison.
    await register(`warm-up-${randomBytes(4).toString('hex')}@example.test`);
    const known = await register(org.owner.email);
    const unknown = await register(`nobody-${randomBytes(4).toString('hex')}@example.test`);
    expect(unknown.body).toBe(known.body);
    expect(unknown.queries).toBe(known.queries);
    expect(known.queries).toBeGreaterThan(0);
    expect(unknown.commands).toEqual(known.commands);
    // The rate limit and one queued mail job carrying the registration's id (never the address).
    expect(known.commands.some((c) => c.join(' ').includes('"template":"registration"'))).toBe(true);
    expect(known.commands.some((c) => c.join(' ').includes(org.owner.email))).toBe(false);
  });
});
