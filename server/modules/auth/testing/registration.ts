import type { AppDeps } from '../../../deps.ts';
import { withDbScope } from '../../../platform/db/context.ts';
import { callerAs } from '../../../test/factories.ts';
import type { InnerContextOptions } from '../../../trpc/context.ts';
import { PendingRegistration } from '../pending-registration.entity.ts';
import { registrationLetter, type RegisterInput } from '../registration.service.ts';

/**
 * The link the mail job would send for the latest registration of an address not yet mailed, minted by the job's own code
 * (`registrationLetter`) without a queue and an SMTP server; null when the job would write no link (the address has
 * an account, or nothing is pending). The mail itself is tested with a real SMTP server in registration.int.test.ts.
 */
export async function confirmationToken(deps: AppDeps, email: string): Promise<string | null> {
  return withDbScope(deps.em, undefined, async (em) => {
    const [pending] = await em.find(
      PendingRegistration,
      // Not yet given a link: two registrations of one address each get their own.
      { email: email.toLowerCase(), tokenHash: null },
      { orderBy: { createdAt: 'desc' }, limit: 1 },
    );
    if (!pending) return null;
    const message = await (await registrationLetter(deps, em, pending.id))?.write();
    if (message?.template !== 'confirm-registration') return null;
    return new URL(message.url).searchParams.get('token');
  });
}

/** Registers through `auth.register` and confirms through `auth.confirmRegistration`, as the browser would. */
export async function registerAndConfirm(
  deps: AppDeps,
  input: RegisterInput,
  opts: InnerContextOptions = {},
) {
  await (await callerAs(deps, null)).auth.register(input);
  const token = await confirmationToken(deps, input.email);
  if (!token) throw new Error(`no confirmation link for ${input.email}`);
  return (await callerAs(deps, null, opts)).auth.confirmRegistration({ token });
}
