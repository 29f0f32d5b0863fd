import { useState, type FormEvent } from 'react';
import { QUEUES } from '../../../../shared/schemas/jobs.ts';
import { Button } from '../../ui/Button.tsx';
import { Field, SelectField } from '../../ui/Field.tsx';
import { useUrlState } from '../url.ts';
import { isUuid, useFailedJobFilter } from './useJobs.ts';

/**
 * The failed-job filters, kept in the URL. The queue applies at once; the text fields on "Filter", after the
 * organization id is checked here (the server would refuse a malformed one). `onChange` runs whenever the filter
 * changes, so the page can drop a selection made under the old one.
 */
export function FailedJobFilters({ onChange }: { onChange: () => void }) {
  const { get, set } = useUrlState();
  const { filter, filtered } = useFailedJobFilter();
  const [draft, setDraft] = useState({ name: get('name'), org: get('org'), q: get('q') });
  const [orgError, setOrgError] = useState<string[] | undefined>();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const org = draft.org.trim();
    if (org && !isUuid(org)) {
      setOrgError(['must be an organization id (open the tenant to copy it)']);
      return;
    }
    setOrgError(undefined);
    onChange();
    set({ name: draft.name.trim(), org, q: draft.q.trim() });
  };

  return (
    <form role="search" className="filters" onSubmit={submit} aria-label="Failed job filters">
      <SelectField
        label="Queue"
        value={filter.queue ?? ''}
        onChange={(e) => {
          onChange();
          set({ queue: e.target.value });
        }}
      >
        <option value="">All queues</option>
        {QUEUES.map((q) => (
          <option key={q} value={q}>
            {q}
          </option>
        ))}
      </SelectField>
      <Field
        label="Job type"
        name="name"
        placeholder="e.g. billing.stripe-event"
        maxLength={120}
        value={draft.name}
        onChange={(e) => setDraft({ ...draft, name: e.target.value })}
      />
      <Field
        label="Organization id"
        name="org"
        placeholder="UUID"
        maxLength={36}
        value={draft.org}
        errors={orgError}
        onChange={(e) => setDraft({ ...draft, org: e.target.value })}
      />
      <Field
        label="Error text"
        name="q"
        type="search"
        maxLength={200}
        value={draft.q}
        onChange={(e) => setDraft({ ...draft, q: e.target.value })}
      />
      <div className="filters-actions">
        <Button type="submit" variant="primary">
          Filter
        </Button>
        {filtered ? (
          <Button
            onClick={() => {
              setDraft({ name: '', org: '', q: '' });
              onChange();
              set({ queue: null, name: null, org: null, q: null });
            }}
          >
            Clear
          </Button>
        ) : null}
      </div>
    </form>
  );
}
