import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { fieldErrorsOf, messageOf } from '../ui/errors.ts';
import { Field, FormError, SelectField } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { PagedQueryView } from '../ui/PagedQueryView.tsx';
import { FlagAuditTable } from './FlagAudit.tsx';
import { flagState, FlagSwitch, type Flag } from './FlagsPage.tsx';
import { formatDecimal } from './format.ts';
import { useUrlState } from './url.ts';
import { QueryView } from '../ui/QueryView.tsx';
import { useInvalidate } from '../invalidate.ts';

const AUDIT_PAGE = 20;

export function FlagPage() {
  const { key = '' } = useParams();
  const trpc = useTRPC();
  const flags = useQuery(trpc.ops.flags.list.queryOptions());
  return (
    <QueryView
      query={flags}
      loading="Loading flag…"
      empty={{
        when: (data) => !data.some((f) => f.key === key),
        title: `There is no flag “${key}”`,
        children: <Link to="/ops/flags">← Feature flags</Link>,
      }}
    >
      {(data) => {
        const flag = data.find((f) => f.key === key);
        return flag ? <FlagDetail flag={flag} /> : null;
      }}
    </QueryView>
  );
}

function FlagDetail({ flag }: { flag: Flag }) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const refresh = () => invalidate(trpc.ops.flags);
  const [killing, setKilling] = useState(false);
  const kill = useMutation(
    trpc.ops.flags.kill.mutationOptions({
      onSuccess: async () => {
        setKilling(false);
        await refresh();
      },
    }),
  );
  const state = flagState(flag);
  return (
    <div className="page">
      <p>
        <Link to="/ops/flags">← Feature flags</Link>
      </p>
      <div className="page-title">
        <h1>
          <code>{flag.key}</code>
        </h1>
        <span className={`badge ${state.tone}`} role="status" aria-label={`State: ${state.label}`}>
          {state.label}
        </span>
        {flag.stale ? <span className="badge badge-warn">Stale: past its expected removal</span> : null}
      </div>
      <p>{flag.description}</p>

      {flag.killed ? (
        <div className="banner banner-bad" role="alert">
          <strong>Kill switch on.</strong> Every organization gets <code>{flag.defaultVariant}</code>,
          overrides included.
          <Button busy={kill.isPending} onClick={() => kill.mutate({ key: flag.key, killed: false })}>
            Release the kill switch
          </Button>
        </div>
      ) : null}

      <div className="columns">
        <Section title="State">
          <div className="control-row">
            <FlagSwitch flag={flag} />
            <span>{flag.enabled ? 'On for every organization' : 'Off unless rolled out or overridden'}</span>
          </div>
          <Rollout flag={flag} onSaved={refresh} />
          {!flag.killed ? (
            <div className="control-row">
              <Button variant="danger" onClick={() => setKilling(true)}>
                Kill switch…
              </Button>
              <span className="muted small">Forces the default variant for everyone, at once.</span>
            </div>
          ) : null}
          <FormError>{kill.error && !killing ? messageOf(kill.error) : null}</FormError>
        </Section>
        <Section title="Definition">
          <dl className="facts facts-grid">
            <dt>Kind</dt>
            <dd>{flag.kind}</dd>
            <dt>Owner</dt>
            <dd>{flag.owner}</dd>
            <dt>Default variant</dt>
            <dd>
              <code>{flag.defaultVariant}</code>
            </dd>
            <dt>On variant</dt>
            <dd>
              <code>{flag.onVariant}</code>
            </dd>
            <dt>Variants</dt>
            <dd>
              <ul className="plain">
                {Object.entries(flag.variants).map(([name, value]) => (
                  <li key={name}>
                    <code>{name}</code> = <code>{JSON.stringify(value)}</code>
                  </li>
                ))}
              </ul>
            </dd>
            <dt>Expected removal</dt>
            <dd>{flag.expectedRemovalAt ? formatDate(flag.expectedRemovalAt) : '—'}</dd>
            <dt>Version</dt>
            <dd>{flag.version}</dd>
          </dl>
        </Section>
      </div>
      <Overrides flag={flag} onSaved={refresh} />
      <FlagAudit flagKey={flag.key} />
      <ConfirmDialog
        open={killing}
        title={`Kill ${flag.key}?`}
        confirmLabel="Kill the flag"
        danger
        confirmText={flag.key}
        busy={kill.isPending}
        error={kill.error ? messageOf(kill.error) : null}
        onConfirm={() => kill.mutate({ key: flag.key, killed: true })}
        onCancel={() => setKilling(false)}
      >
        <p>
          Every organization gets the default variant <code>{flag.defaultVariant}</code> within a second,
          overrides and rollout included, until the kill switch is released.
        </p>
      </ConfirmDialog>
    </div>
  );
}

function Rollout({ flag, onSaved }: { flag: Flag; onSaved: () => Promise<unknown> }) {
  const trpc = useTRPC();
  const [value, setValue] = useState(String(flag.rolloutPercentage));
  const update = useMutation(trpc.ops.flags.update.mutationOptions({ onSuccess: onSaved }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    update.mutate({ key: flag.key, rolloutPercentage: Number(value) });
  };
  const changed = Number(value) !== flag.rolloutPercentage;
  return (
    <form className="control-row rollout" onSubmit={submit}>
      <Field
        label="Rollout (%)"
        type="number"
        min={0}
        max={100}
        step={0.01}
        value={value}
        onChange={(e) => setValue(e.target.value)}
        errors={fieldErrorsOf(update.error).rolloutPercentage}
        hint={`Now ${formatDecimal(flag.rolloutPercentage)} % of organizations get “${flag.onVariant}”; widening only adds organizations.`}
      />
      <input
        type="range"
        min={0}
        max={100}
        step={1}
        value={Number(value) || 0}
        onChange={(e) => setValue(e.target.value)}
        aria-label="Rollout slider"
      />
      <Button type="submit" variant="primary" disabled={!changed} busy={update.isPending}>
        Save rollout
      </Button>
      {update.isError && !fieldErrorsOf(update.error).rolloutPercentage ? (
        <p className="field-error" role="alert">
          {messageOf(update.error)}
        </p>
      ) : null}
    </form>
  );
}

/** Look up an organization, see what it gets and why, and force or clear its variant. */
function Overrides({ flag, onSaved }: { flag: Flag; onSaved: () => Promise<unknown> }) {
  const trpc = useTRPC();
  const [search, setSearch] = useState('');
  const [org, setOrg] = useState<{ id: string; name: string } | null>(null);
  const [variant, setVariant] = useState('');
  const found = useQuery(
    trpc.ops.tenants.list.queryOptions(
      { query: search.trim(), limit: 6 },
      { enabled: search.trim().length >= 2 && !org, placeholderData: keepPreviousData },
    ),
  );
  const explain = useQuery(
    trpc.ops.flags.explain.queryOptions(
      { key: flag.key, organizationId: org?.id ?? '' },
      { enabled: Boolean(org) },
    ),
  );
  const save = useMutation(trpc.ops.flags.setOverride.mutationOptions({ onSuccess: onSaved }));
  return (
    <Section title="Organization overrides">
      <p className="muted">
        {flag.overrides === 1 ? 'One organization has' : `${flag.overrides} organizations have`} an override.
        Find an organization to see what it gets and why, or to force a variant for it.
      </p>
      {!org ? (
        <>
          <Field
            label="Find an organization"
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder="Name or slug (2 letters or more)"
          />
          {found.data && search.trim().length >= 2 ? (
            found.data.items.length ? (
              <ul className="plain pick-list" aria-label="Matching organizations">
                {found.data.items.map((o) => (
                  <li key={o.id}>
                    <Button
                      variant="link"
                      onClick={() => {
                        setOrg({ id: o.id, name: o.name });
                        save.reset();
                      }}
                    >
                      {o.name} <span className="muted">({o.slug})</span>
                    </Button>
                  </li>
                ))}
              </ul>
            ) : (
              <p className="muted">No organization matches.</p>
            )
          ) : null}
        </>
      ) : (
        <div className="override">
          <p>
            <strong>{org.name}</strong>{' '}
            <Button variant="link" onClick={() => setOrg(null)}>
              Choose another organization
            </Button>
          </p>
          <QueryView query={explain} loading="Evaluating…">
            {(data) =>
              data ? (
                <p role="status">
                  Gets <code>{data.variant}</code> (<code>{JSON.stringify(data.value)}</code>) because of{' '}
                  <strong>{data.reason.toLowerCase()}</strong>.
                </p>
              ) : null
            }
          </QueryView>
          <form
            className="control-row"
            onSubmit={(e) => {
              e.preventDefault();
              save.mutate({ key: flag.key, organizationId: org.id, variant: variant || null });
            }}
          >
            <SelectField
              label="Variant for this organization"
              value={variant}
              onChange={(e) => setVariant(e.target.value)}
            >
              <option value="">No override (remove)</option>
              {Object.keys(flag.variants).map((v) => (
                <option key={v} value={v}>
                  Force {v}
                </option>
              ))}
            </SelectField>
            <Button type="submit" variant="primary" busy={save.isPending}>
              Save override
            </Button>
          </form>
          <FormError>{save.error ? messageOf(save.error) : null}</FormError>
          {save.isSuccess ? (
            <p className="notice" role="status">
              Saved; {org.name} sees it within a second.
            </p>
          ) : null}
        </div>
      )}
    </Section>
  );
}

function FlagAudit({ flagKey }: { flagKey: string }) {
  const trpc = useTRPC();
  const { set, page } = useUrlState();
  const audit = useQuery(
    trpc.ops.flags.audit.queryOptions(
      { key: flagKey, limit: AUDIT_PAGE, offset: (page - 1) * AUDIT_PAGE },
      { placeholderData: keepPreviousData },
    ),
  );
  const orgIds = [
    ...new Set((audit.data?.items ?? []).map((e) => e.organizationId).filter((id) => id !== null)),
  ];
  const names = useQuery(
    trpc.ops.lookup.queryOptions({ organizationIds: orgIds }, { enabled: orgIds.length > 0 }),
  );
  const orgNames = Object.fromEntries(
    Object.entries(names.data?.organizations ?? {}).map(([id, o]) => [id, o.name]),
  );
  return (
    <Section title="Audit log">
      <PagedQueryView
        query={audit}
        loading="Loading the audit log…"
        none="No changes recorded"
        label="Audit log pages"
        page={page}
        pageSize={AUDIT_PAGE}
        onPage={(p) => set({ page: p })}
      >
        {(data) => <FlagAuditTable entries={data.items} orgNames={orgNames} />}
      </PagedQueryView>
    </Section>
  );
}
