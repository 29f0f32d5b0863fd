import { hashKey, useMutation, useQueryClient } from '@tanstack/react-query';
import { useMe } from '../auth/session.tsx';
import { useTRPC } from '../trpc.ts';
import { messageOf } from '../ui/errors.ts';
import { SelectField } from '../ui/Field.tsx';

export function OrganizationSwitcher() {
  const me = useMe();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const switchOrganization = useMutation(
    trpc.auth.switchOrganization.mutationOptions({
      onSuccess: async () => {
        // Everything cached belonged to the previous organization. auth.me is read again rather than taken from
        // this answer, which the server builds from the user row it loaded before the switch. The pages are keyed
        // by organization, so they remount and fetch afresh once auth.me names the new one.
        const meKey = trpc.auth.me.queryKey();
        const meHash = hashKey(meKey);
        queryClient.removeQueries({ predicate: (q) => q.queryHash !== meHash });
        await queryClient.invalidateQueries({ queryKey: meKey });
      },
    }),
  );
  if (!me.organizations.length) return null;
  return (
    <div className="switcher">
      <SelectField
        label="Organization"
        hideLabel
        value={me.organization?.id ?? ''}
        disabled={switchOrganization.isPending}
        onChange={(e) => switchOrganization.mutate({ organizationId: e.target.value })}
      >
        {me.organization ? null : <option value="">Choose an organization</option>}
        {me.organizations.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name}
          </option>
        ))}
      </SelectField>
      {switchOrganization.isError ? (
        <p className="field-error" role="alert">
          {messageOf(switchOrganization.error)}
        </p>
      ) : null}
    </div>
  );
}
