import { useState, type FormEvent } from 'react';
import { JOB_SEARCH_STATES } from '../../../../shared/schemas/jobs.ts';
import { Button } from '../../ui/Button.tsx';
import { Field, SelectField } from '../../ui/Field.tsx';
import { useUrlState } from '../url.ts';
import { parseField, SEARCH_PARAMS } from './useJobSearch.ts';
import { isUuid } from './useJobs.ts';

type Draft = Record<(typeof SEARCH_PARAMS)[number], string>;

const draftFrom = (value: (param: keyof Draft) => string): Draft => ({
  type: value('type'),
  org: value('org'),
  tag: value('tag'),
  state: value('state'),
  field: value('field'),
  from: value('from'),
  to: value('to'),
});

/**
 * The job search's filters, kept in the URL. The state applies at once; the rest on "Search", after the
 * organization id and the payload field are checked here (the server would refuse them).
 */
export function JobSearchForm({ onChange }: { onChange: () => void }) {
  const { get, set } = useUrlState();
  const [draft, setDraft] = useState<Draft>(() => draftFrom(get));
  const [errors, setErrors] = useState<Partial<Record<keyof Draft, string[]>>>({});
  const edit = (key: keyof Draft) => (e: { target: { value: string } }) =>
    setDraft({ ...draft, [key]: e.target.value });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const next: Partial<Record<keyof Draft, string[]>> = {};
    const org = draft.org.trim();
    if (org && org !== 'none' && !isUuid(org))
      next.org = ['must be an organization id, or "none" for system jobs'];
    if (draft.field.trim() && !parseField(draft.field)) next.field = ['must look like invoiceId=inv-42'];
    setErrors(next);
    if (Object.keys(next).length) return;
    onChange();
    set(Object.fromEntries(SEARCH_PARAMS.map((p) => [p, draft[p].trim()])));
  };
  const clear = () => {
    setDraft(draftFrom(() => ''));
    setErrors({});
    onChange();
    set(Object.fromEntries(SEARCH_PARAMS.map((p) => [p, null])));
  };

  return (
    <form role="search" className="filters" onSubmit={submit} aria-label="Job search">
      <Field
        label="Job type"
        name="type"
        placeholder="e.g. mail.send"
        maxLength={120}
        value={draft.type}
        onChange={edit('type')}
      />
      <Field
        label="Organization id"
        name="org"
        placeholder="UUID or none"
        maxLength={36}
        value={draft.org}
        errors={errors.org}
        onChange={edit('org')}
      />
      <Field label="Tag" name="tag" maxLength={120} value={draft.tag} onChange={edit('tag')} />
      <SelectField
        label="State"
        value={get('state')}
        onChange={(e) => {
          onChange();
          setDraft({ ...draft, state: e.target.value });
          set({ state: e.target.value });
        }}
      >
        <option value="">Any state</option>
        {JOB_SEARCH_STATES.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </SelectField>
      <Field
        label="Payload field"
        name="field"
        placeholder="invoiceId=inv-42"
        maxLength={260}
        value={draft.field}
        errors={errors.field}
        hint="A field the job type declares searchable."
        onChange={edit('field')}
      />
      <Field
        label="Dispatched from"
        name="from"
        type="datetime-local"
        value={draft.from}
        onChange={edit('from')}
      />
      <Field
        label="Dispatched until"
        name="to"
        type="datetime-local"
        value={draft.to}
        onChange={edit('to')}
      />
      <div className="filters-actions">
        <Button type="submit" variant="primary">
          Search
        </Button>
        <Button onClick={clear}>Clear</Button>
      </div>
    </form>
  );
}
