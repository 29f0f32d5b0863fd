import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrg } from '../../test/factories.ts';
import { neutral, startWorkProbe, type WorkProbe } from '../../test/request-work.ts';

// Issue 17, finding 11: a reset request must not tell, by its answer or its timing, who has an account. Proven
// without a timing threshold: the request issues the same Redis commands for both and no SQL at all.

describe('passwordReset.request', () => {
  let probe: WorkProbe;

  beforeAll(async () => {
    probe = await startWorkProbe();
  });
  afterAll(async () => {
    await probe?.close();
  });

  it('does the same work for an email with an account as for one without, and none in the database', async () => {
    const org = await createOrg(probe.env.deps);
    /** The Redis commands that name the email (with the email, ids and times made neutral), and the SQL count. */
    const request = async (email: string) => {
      const { res, commands, queries } = await probe.send({
        method: 'POST',
        url: '/trpc/passwordReset.request',
        headers: { 'content-type': 'application/json' },
        payload: { json: { email } },
      });
      expect(res.statusCode, res.body).toBe(200);
      return {
        commands: commands
          .filter((args) => args.some((a) => a.includes(email)))
          .map((args) => neutral(args.map((a) => a.replaceAll(email, '<email>')))),
        queries,
      };
    };
    const known = await request(org.owner.email);
    const unknown = await request(`nobody-${randomBytes(4).toString('hex')}@example.test`);
    expect(known.queries).toBe(0);
    expect(unknown.queries).toBe(0);
    expect(unknown.commands).toEqual(known.commands);
    // The per-email limit and one queued mail job carrying the address.
    expect(known.commands.some((c) => c.join(' ').includes('"template":"password-reset"'))).toBe(true);
  });
});
