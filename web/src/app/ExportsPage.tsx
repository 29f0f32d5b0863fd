import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { RECORD_STATUSES } from '../../../shared/schemas/records.ts';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { fieldErrorsOf, messageOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../ui/Field.tsx';
import { formatDateTime } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { QueryView } from '../ui/QueryView.tsx';
import { ProgressBar, useJobProgress, type JobProgress } from './useJobProgress.tsx';
import { useInvalidate } from '../invalidate.ts';

type Export = RouterOutputs['exports']['list']['items'][number];
type RecordStatus = (typeof RECORD_STATUSES)[number];

export function ExportsPage() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const refresh = () => invalidate(trpc.exports);
  const progress = useJobProgress((p) => {
    if (p === 'resync' || (p.kind === 'export' && p.status !== 'running')) void refresh();
  });
  return (
    <div className="page">
      <header className="page-head">
        <h1>Exports</h1>
        <p className="muted">Download your records as CSV. Large exports run in the background.</p>
      </header>
      <div className="columns">
        <RequestExport onRequested={() => void refresh()} />
        <ExportHistory progress={progress.byJob} />
      </div>
    </div>
  );
}

function RequestExport({ onRequested }: { onRequested: () => void }) {
  const trpc = useTRPC();
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [statuses, setStatuses] = useState<RecordStatus[]>([]);
  const request = useMutation(trpc.exports.request.mutationOptions({ onSuccess: onRequested }));
  const errors = fieldErrorsOf(request.error);
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    request.mutate({
      from: from ? new Date(from) : null,
      to: to ? new Date(to) : null,
      statuses: statuses.length ? statuses : null,
    });
  };
  return (
    <Section title="New export">
      <form className="form" onSubmit={onSubmit} noValidate>
        <FormError>{formErrorOf(request.error, ['from', 'to', 'statuses'])}</FormError>
        <Field
          label="Created from"
          name="from"
          type="date"
          value={from}
          onChange={(e) => setFrom(e.target.value)}
          errors={errors.from}
        />
        <Field
          label="Created before"
          name="to"
          type="date"
          value={to}
          onChange={(e) => setTo(e.target.value)}
          errors={errors.to}
        />
        <fieldset className="field">
          <legend>Statuses (none ticked: all)</legend>
          <div className="checkbox-group">
            {RECORD_STATUSES.map((s) => (
              <label key={s} className="checkbox">
                <input
                  type="checkbox"
                  checked={statuses.includes(s)}
                  onChange={(e) =>
                    setStatuses((list) => (e.target.checked ? [...list, s] : list.filter((x) => x !== s)))
                  }
                />
                {s}
              </label>
            ))}
          </div>
          {errors.statuses ? <p className="field-error">Statuses {errors.statuses.join('; ')}</p> : null}
        </fieldset>
        <Button type="submit" variant="primary" busy={request.isPending}>
          Request export
        </Button>
        {request.data?.duplicate ? (
          <p className="notice" role="status">
            An identical export was requested within the hour: showing that one.
          </p>
        ) : null}
      </form>
    </Section>
  );
}

function ExportHistory({ progress }: { progress: Record<string, JobProgress> }) {
  const trpc = useTRPC();
  const list = useQuery(trpc.exports.list.queryOptions({ limit: 25, offset: 0 }));
  return (
    <Section title="History">
      <QueryView
        query={list}
        loading="Loading exports…"
        empty={{ when: (d) => d.items.length === 0, title: 'No exports yet' }}
      >
        {(data) => (
          <table className="table" aria-label="Exports">
            <thead>
              <tr>
                <th scope="col">Requested</th>
                <th scope="col">Filters</th>
                <th scope="col">Progress</th>
                <th scope="col">Rows</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((x) => (
                <ExportRow key={x.id} item={x} live={progress[x.id]} />
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </Section>
  );
}

function describeFilters(f: Export['filters']): string {
  const parts = [
    f.from ? `from ${f.from.slice(0, 10)}` : null,
    f.to ? `before ${f.to.slice(0, 10)}` : null,
    f.statuses?.length ? f.statuses.join(', ') : null,
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'All records';
}

function ExportRow({ item, live }: { item: Export; live: JobProgress | undefined }) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const cancel = useMutation(
    trpc.exports.cancel.mutationOptions({
      onSuccess: () => void invalidate(trpc.exports),
    }),
  );
  const download = useMutation(
    trpc.exports.download.mutationOptions({
      onSuccess: ({ url, filename }) => {
        const a = document.createElement('a');
        a.href = url;
        a.download = filename;
        document.body.append(a);
        a.click();
        a.remove();
      },
    }),
  );
  // The list row is the truth once the job is over; live events are fresher while it runs.
  const status =
    live && !['completed', 'failed', 'cancelled'].includes(item.status) ? live.status : item.status;
  const fraction =
    status === 'completed'
      ? 1
      : (live?.progress ?? (item.totalRows ? (item.rowCount ?? 0) / item.totalRows : null));
  const running = status === 'queued' || status === 'running';
  return (
    <tr>
      <td>{formatDateTime(item.createdAt)}</td>
      <td>{describeFilters(item.filters)}</td>
      <td>
        <span className="capitalize block">{status}</span>
        {running || status === 'completed' ? (
          <ProgressBar label={`Export ${formatDateTime(item.createdAt)} progress`} value={fraction} />
        ) : null}
        {item.error ? <span className="field-error block">{item.error}</span> : null}
        {live?.message && running ? <span className="muted small block">{live.message}</span> : null}
      </td>
      <td>{(item.rowCount ?? live?.processed ?? 0).toLocaleString()}</td>
      <td>
        {running ? (
          <Button variant="danger" busy={cancel.isPending} onClick={() => cancel.mutate({ id: item.id })}>
            Cancel
          </Button>
        ) : null}
        {status === 'completed' ? (
          <Button
            variant="primary"
            busy={download.isPending}
            onClick={() => download.mutate({ id: item.id })}
          >
            Download
          </Button>
        ) : null}
        {cancel.isError || download.isError ? (
          <span className="field-error block" role="alert">
            {messageOf(cancel.error ?? download.error)}
          </span>
        ) : null}
      </td>
    </tr>
  );
}
