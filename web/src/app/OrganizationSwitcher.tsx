import { useMutation } from '@tanstack/react-query';
import { useMe } from '../auth/session.tsx';
import { useTRPC } from '../trpc.ts';
import { messageOf } from '../ui/errors.ts';
import { SelectField } from '../ui/Field.tsx';
import { useOrganizationChanged } from '../invalidate.ts';

export function OrganizationSwitcher() {
  const me = useMe();
  const trpc = useTRPC();
  const organizationChanged = useOrganizationChanged();
  const switchOrganization = useMutation(
    trpc.auth.switchOrganization.mutationOptions({
      onSuccess: organizationChanged,
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
