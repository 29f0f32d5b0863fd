import { useMutation, useQuery } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { MAX_BATCH_FILES, MAX_IMPORT_BYTES } from '../../../shared/schemas/imports.ts';
import { useTRPC, useTRPCClient, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { messageOf } from '../ui/errors.ts';
import { FormError } from '../ui/Field.tsx';
import { formatDateTime } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { ProgressBar, useJobProgress, type JobProgress } from './useJobProgress.tsx';
import { QueryView } from '../ui/QueryView.tsx';
import { useInvalidate } from '../invalidate.ts';

type Import = RouterOutputs['imports']['list']['items'][number];
const DONE = new Set(['completed', 'invalid', 'failed']);

export function ImportsPage() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const refresh = () => invalidate(trpc.imports);
  const progress = useJobProgress((p) => {
    if (p === 'resync' || (p.kind !== 'export' && DONE.has(p.status))) void refresh();
  });
  return (
    <div className="page">
      <header className="page-head">
        <h1>Imports</h1>
        <p className="muted">Upload CSV files of records. Several files run together as one batch.</p>
      </header>
      <div className="columns">
        <Upload onStarted={() => void refresh()} />
        <ImportHistory progress={progress.byJob} />
      </div>
    </div>
  );
}

function Upload({ onStarted }: { onStarted: () => void }) {
  const client = useTRPCClient();
  const inputId = useId();
  const [files, setFiles] = useState<File[]>([]);
  const [step, setStep] = useState<string | null>(null);
  // Uploading is three calls per file (reserve, PUT, start); one mutation keeps the busy and error states simple.
  const upload = useMutation({
    mutationFn: async (chosen: File[]) => {
      const ids: string[] = [];
      for (const [i, file] of chosen.entries()) {
        setStep(`Uploading ${file.name} (${i + 1} of ${chosen.length})…`);
        const slot = await client.imports.createUpload.mutate({
          filename: file.name,
          size: file.size,
          ...(file.type ? { contentType: file.type } : {}),
        });
        const put = await fetch(slot.uploadUrl, { method: 'PUT', body: file, credentials: 'include' });
        if (!put.ok) throw new Error(`${file.name} could not be uploaded (HTTP ${put.status})`);
        ids.push(slot.importId);
      }
      setStep('Starting…');
      if (ids.length === 1) await client.imports.start.mutate({ importId: ids[0]! });
      else await client.imports.startBatch.mutate({ importIds: ids });
    },
    onSuccess: () => {
      setFiles([]);
      onStarted();
    },
    onSettled: () => setStep(null),
  });
  const tooBig = files.filter((f) => f.size > MAX_IMPORT_BYTES);
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (files.length && !tooBig.length && files.length <= MAX_BATCH_FILES) upload.mutate(files);
  };
  return (
    <Section title="Upload">
      <form className="form" onSubmit={onSubmit} noValidate>
        <FormError>{upload.isError ? messageOf(upload.error) : null}</FormError>
        <div className={tooBig.length ? 'field field-invalid' : 'field'}>
          <label htmlFor={inputId}>CSV files</label>
          <input
            id={inputId}
            type="file"
            accept=".csv,.txt,text/csv,text/plain"
            multiple
            onChange={(e) => setFiles([...(e.target.files ?? [])])}
          />
          <p className="field-hint">
            Up to {MAX_BATCH_FILES} files of at most {MAX_IMPORT_BYTES / 1024 / 1024} MB each.
          </p>
          {tooBig.length ? (
            <p className="field-error">{tooBig.map((f) => f.name).join(', ')} is larger than 10 MB</p>
          ) : null}
        </div>
        <Button type="submit" variant="primary" busy={upload.isPending} disabled={!files.length}>
          {files.length > 1 ? `Import ${files.length} files` : 'Import'}
        </Button>
        {step ? (
          <p className="muted" role="status">
            {step}
          </p>
        ) : null}
      </form>
    </Section>
  );
}

function ImportHistory({ progress }: { progress: Record<string, JobProgress> }) {
  const trpc = useTRPC();
  const list = useQuery(trpc.imports.list.queryOptions({}));
  return (
    <Section title="History">
      <QueryView
        query={list}
        loading="Loading imports…"
        empty={{ when: (data) => data.items.length === 0, title: 'No imports yet' }}
      >
        {(data) => (
          <table className="table" aria-label="Imports">
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">Progress</th>
                <th scope="col">Rows</th>
                <th scope="col">Problems</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((i) => (
                <ImportRow key={i.id} item={i} live={progress[i.id]} />
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </Section>
  );
}

function ImportRow({ item, live }: { item: Import; live: JobProgress | undefined }) {
  const trpc = useTRPC();
  const report = useMutation(
    trpc.imports.report.mutationOptions({ onSuccess: ({ url }) => window.location.assign(url) }),
  );
  const finished = DONE.has(item.status);
  const status = !finished && live ? live.status : item.status;
  const fraction = item.status === 'completed' ? 1 : (live?.progress ?? null);
  return (
    <tr>
      <td>
        {item.filename}
        <span className="muted block">{formatDateTime(item.createdAt)}</span>
        {item.batchId ? <span className="muted small block">batch {item.batchId.slice(0, 8)}</span> : null}
      </td>
      <td>
        <span className="capitalize block">{status}</span>
        {!finished || item.status === 'completed' ? (
          <ProgressBar label={`${item.filename} progress`} value={fraction} />
        ) : null}
        {item.error ? <span className="field-error block">{item.error}</span> : null}
      </td>
      <td>
        {(item.importedRows ?? live?.processed ?? 0).toLocaleString()}
        {item.totalRows !== null ? ` of ${item.totalRows.toLocaleString()}` : ''}
      </td>
      <td>
        {item.errorCount === 0 ? (
          finished ? (
            'None'
          ) : (
            '—'
          )
        ) : (
          <details>
            <summary>
              {item.errorCount.toLocaleString()} row error{item.errorCount === 1 ? '' : 's'}
            </summary>
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">Column</th>
                  <th scope="col">Problem</th>
                </tr>
              </thead>
              <tbody>
                {item.errors.map((e) => (
                  <tr key={`${e.line}:${e.column}`}>
                    <td>{e.line}</td>
                    <td>{e.column}</td>
                    <td>{e.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {item.hasReport ? (
              <Button variant="link" busy={report.isPending} onClick={() => report.mutate({ id: item.id })}>
                Download the full report
              </Button>
            ) : null}
            {report.isError ? <span className="field-error block">{messageOf(report.error)}</span> : null}
          </details>
        )}
      </td>
    </tr>
  );
}
