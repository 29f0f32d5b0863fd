import { useMutation, useQuery } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { DataTable } from '../ui/DataTable.tsx';
import { fieldErrorsOf, messageOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf, SelectField } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { FlagAuditTable } from './FlagAudit.tsx';
import { formatDecimal } from './format.ts';
import { useUrlState } from './url.ts';
import { QueryView } from '../ui/QueryView.tsx';
import { useInvalidate } from '../invalidate.ts';

export type Flag = RouterOutputs['ops']['flags']['list'][number];

export function flagState(f: Flag): { label: string; tone: string } {
  if (f.killed) return { label: 'Killed', tone: 'badge-bad' };
  if (f.enabled) return { label: 'On', tone: 'badge-ok' };
  if (f.rolloutPercentage > 0) return { label: `Rolling out`, tone: 'badge-warn' };
  return { label: 'Off', tone: '' };
}

/** The on/off switch of a flag (its global value); the kill switch and rollout live on the flag's page. */
export function FlagSwitch({ flag }: { flag: Flag }) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const update = useMutation(
    trpc.ops.flags.update.mutationOptions({
      onSuccess: () => invalidate(trpc.ops.flags),
    }),
  );
  const on = update.isPending ? Boolean(update.variables.enabled) : flag.enabled;
  return (
    <span className="switch-wrap">
      <button
        type="button"
        role="switch"
        aria-checked={on}
        aria-label={flag.key}
        className="switch"
        disabled={update.isPending}
        onClick={() => update.mutate({ key: flag.key, enabled: !flag.enabled })}
      >
        <span aria-hidden="true" className="switch-knob" />
      </button>
      {update.isError ? (
        <span className="field-error" role="alert">
          {messageOf(update.error)}
        </span>
      ) : null}
    </span>
  );
}

export function FlagsPage() {
  const trpc = useTRPC();
  const { get, set } = useUrlState();
  const creating = get('new') === '1';
  const flags = useQuery(trpc.ops.flags.list.queryOptions());
  const audit = useQuery(trpc.ops.flags.audit.queryOptions({ limit: 15 }));
  const query = get('q').toLowerCase();
  const matches = (f: { key: string; description: string }) =>
    !query || f.key.includes(query) || f.description.toLowerCase().includes(query);
  return (
    <div className="page">
      <div className="page-title">
        <h1>Feature flags</h1>
        {!creating ? (
          <Button variant="primary" onClick={() => set({ new: '1' })}>
            New flag
          </Button>
        ) : null}
      </div>
      {creating ? <CreateFlag onDone={() => set({ new: null })} /> : null}
      <Section
        title="Flags"
        aside={
          <Field
            label="Filter flags"
            type="search"
            value={get('q')}
            onChange={(e) => set({ q: e.target.value }, { keepPage: true, replace: true })}
            placeholder="Key or description"
          />
        }
      >
        <QueryView
          query={flags}
          loading="Loading flags…"
          empty={{
            when: (data) => !data.some(matches),
            title: (data) => (data.length === 0 ? 'No feature flags yet' : `No flag matches “${get('q')}”`),
            children: (data) =>
              data.length === 0 ? (
                <Button onClick={() => set({ new: '1' })}>Create the first flag</Button>
              ) : null,
          }}
        >
          {(data) => (
            <DataTable columns={['On', 'Flag', 'State', 'Rollout', 'Overrides', 'Owner', 'Updated']}>
              {data.filter(matches).map((f) => {
                const state = flagState(f);
                return (
                  <tr key={f.key} aria-label={f.key}>
                    <td>
                      <FlagSwitch flag={f} />
                    </td>
                    <td>
                      <Link to={`/ops/flags/${encodeURIComponent(f.key)}`}>
                        <code>{f.key}</code>
                      </Link>
                      <div className="muted small">{f.description}</div>
                    </td>
                    <td>
                      <span className={`badge ${state.tone}`}>{state.label}</span>
                      {f.stale ? <span className="badge badge-warn">Stale</span> : null}
                      <div className="muted small">{f.kind}</div>
                    </td>
                    <td>{formatDecimal(f.rolloutPercentage)} %</td>
                    <td>{f.overrides}</td>
                    <td>{f.owner}</td>
                    <td>{formatDate(f.updatedAt)}</td>
                  </tr>
                );
              })}
            </DataTable>
          )}
        </QueryView>
      </Section>
      <Section title="Recent flag changes">
        <QueryView
          query={audit}
          loading="Loading changes…"
          empty={{ when: (data) => data.items.length === 0, title: 'No flag has been changed yet' }}
        >
          {(data) => <FlagAuditTable entries={data.items} showFlag />}
        </QueryView>
      </Section>
    </div>
  );
}

const EMPTY = {
  key: '',
  description: '',
  owner: '',
  kind: 'boolean' as 'boolean' | 'variant',
  variants: '{\n  "control": "a",\n  "treatment": "b"\n}',
  defaultVariant: 'control',
  onVariant: 'treatment',
  enabled: false,
  rollout: '0',
  removal: '',
};

function CreateFlag({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const navigate = useNavigate();
  const variantsId = useId();
  const [form, setForm] = useState(EMPTY);
  const [variantsError, setVariantsError] = useState<string | null>(null);
  const create = useMutation(
    trpc.ops.flags.create.mutationOptions({
      onSuccess: async (flag) => {
        await invalidate(trpc.ops.flags);
        void navigate(`/ops/flags/${encodeURIComponent(flag.key)}`);
      },
    }),
  );
  const errors = fieldErrorsOf(create.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let variants: Record<string, string | number | boolean | null> | undefined;
    if (form.kind === 'variant') {
      try {
        variants = JSON.parse(form.variants) as typeof variants;
        setVariantsError(null);
      } catch {
        setVariantsError('must be a JSON object of variant name to value');
        return;
      }
    }
    create.mutate({
      key: form.key.trim(),
      description: form.description,
      owner: form.owner,
      kind: form.kind,
      enabled: form.enabled,
      rolloutPercentage: Number(form.rollout) || 0,
      expectedRemovalAt: form.removal ? new Date(form.removal) : null,
      ...(form.kind === 'variant'
        ? { variants, defaultVariant: form.defaultVariant.trim(), onVariant: form.onVariant.trim() }
        : {}),
    });
  };
  const shownFields = [
    'key',
    'description',
    'owner',
    'rolloutPercentage',
    'variants',
    'defaultVariant',
    'onVariant',
  ];
  return (
    <Section title="New flag">
      <form className="form form-grid" onSubmit={submit} noValidate>
        <Field
          label="Key"
          required
          value={form.key}
          onChange={(e) => setForm({ ...form, key: e.target.value })}
          placeholder="e.g. editor.new-toolbar"
          hint="Lowercase letters, digits, “.”, “_” and “-”; it cannot be renamed."
          errors={errors.key}
          autoFocus
        />
        <Field
          label="Description"
          required
          value={form.description}
          onChange={(e) => setForm({ ...form, description: e.target.value })}
          errors={errors.description}
        />
        <Field
          label="Owner"
          required
          value={form.owner}
          onChange={(e) => setForm({ ...form, owner: e.target.value })}
          placeholder="Team or person"
          errors={errors.owner}
        />
        <SelectField
          label="Kind"
          value={form.kind}
          onChange={(e) => setForm({ ...form, kind: e.target.value as 'boolean' | 'variant' })}
        >
          <option value="boolean">Boolean (on / off)</option>
          <option value="variant">Variants</option>
        </SelectField>
        {form.kind === 'variant' ? (
          <>
            <div className={variantsError || errors.variants ? 'field field-invalid' : 'field'}>
              <label htmlFor={variantsId}>Variants (JSON)</label>
              <textarea
                id={variantsId}
                rows={5}
                value={form.variants}
                onChange={(e) => setForm({ ...form, variants: e.target.value })}
                aria-invalid={Boolean(variantsError || errors.variants) || undefined}
              />
              {variantsError || errors.variants ? (
                <p className="field-error">Variants {variantsError ?? errors.variants?.join('; ')}</p>
              ) : null}
            </div>
            <Field
              label="Default variant"
              value={form.defaultVariant}
              onChange={(e) => setForm({ ...form, defaultVariant: e.target.value })}
              errors={errors.defaultVariant}
              hint="Served when the flag is off or killed."
            />
            <Field
              label="On variant"
              value={form.onVariant}
              onChange={(e) => setForm({ ...form, onVariant: e.target.value })}
              errors={errors.onVariant}
              hint="Served when it is on (globally or within the rollout)."
            />
          </>
        ) : null}
        <Field
          label="Rollout (%)"
          type="number"
          min={0}
          max={100}
          step={0.01}
          value={form.rollout}
          onChange={(e) => setForm({ ...form, rollout: e.target.value })}
          errors={errors.rolloutPercentage}
        />
        <Field
          label="Expected removal"
          type="date"
          value={form.removal}
          onChange={(e) => setForm({ ...form, removal: e.target.value })}
          hint="After this date the flag is marked stale."
        />
        <label className="checkbox">
          <input
            type="checkbox"
            checked={form.enabled}
            onChange={(e) => setForm({ ...form, enabled: e.target.checked })}
          />{' '}
          On for everyone from the start
        </label>
        <FormError>{formErrorOf(create.error, shownFields)}</FormError>
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={create.isPending}>
            Create flag
          </Button>
          <Button onClick={onDone}>Cancel</Button>
        </div>
      </form>
    </Section>
  );
}
