import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { BULK_ACTIONS, type JobSearchFilter } from '../../../../shared/schemas/jobs.ts';
import { useInvalidate } from '../../invalidate.ts';
import { useTRPC } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { ConfirmDialog } from '../../ui/ConfirmDialog.tsx';
import { messageOf } from '../../ui/errors.ts';
import { FormError } from '../../ui/Field.tsx';

type Action = (typeof BULK_ACTIONS)[number];

const LABELS: Record<Action, { verb: string; what: string }> = {
  retry: { verb: 'Retry', what: 'failed jobs are queued again under their ids' },
  cancel: { verb: 'Cancel', what: 'waiting and delayed jobs leave their queue and never run' },
  delete: { verb: 'Delete', what: 'jobs leave their queue, the index and the failed store' },
};

/**
 * Retry, cancel or delete every job the search matches. The server counts the jobs the action applies to first;
 * the dialog states that count, and confirming applies the action to exactly those jobs (and records it in the
 * operator audit log).
 */
export function BulkActions({ filter }: { filter: JobSearchFilter }) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const [done, setDone] = useState<string | null>(null);
  const preview = useMutation(trpc.ops.jobs.bulkPreview.mutationOptions());
  const bulk = useMutation(
    trpc.ops.jobs.bulk.mutationOptions({
      onSuccess: (r) => {
        preview.reset();
        setDone(
          `${LABELS[r.action].verb}: ${r.done} of ${r.count} jobs${r.skipped ? ` (${r.skipped} skipped: no longer ${r.action === 'retry' ? 'failed' : 'waiting'})` : ''}.`,
        );
        void invalidate(trpc.ops.jobs, trpc.ops.audit);
      },
    }),
  );
  const previewed = preview.data;
  const start = (action: Action) => {
    setDone(null);
    bulk.reset();
    preview.mutate({ action, filter });
  };

  return (
    <div className="toolbar" role="group" aria-label="Bulk actions on the matching jobs">
      {BULK_ACTIONS.map((action) => (
        <Button
          key={action}
          variant={action === 'delete' ? 'danger' : undefined}
          busy={preview.isPending && preview.variables.action === action}
          onClick={() => start(action)}
        >
          {LABELS[action].verb} all matching…
        </Button>
      ))}
      <FormError>{preview.error ? messageOf(preview.error) : null}</FormError>
      {done ? (
        <p className="muted small" role="status">
          {done}
        </p>
      ) : null}
      <ConfirmDialog
        open={!!previewed}
        title={previewed ? `${LABELS[previewed.action].verb} ${previewed.count} jobs?` : ''}
        confirmLabel={previewed ? `${LABELS[previewed.action].verb} ${previewed.count} jobs` : ''}
        danger={previewed?.action !== 'retry'}
        busy={bulk.isPending}
        error={bulk.error ? messageOf(bulk.error) : null}
        onConfirm={() => {
          if (previewed) bulk.mutate({ action: previewed.action, filter, confirm: previewed.confirm });
        }}
        onCancel={() => preview.reset()}
      >
        {previewed ? (
          <p>
            {previewed.count === 0
              ? 'No matching job can take this action.'
              : `${previewed.count} matching jobs: ${LABELS[previewed.action].what}. Jobs that changed meanwhile are skipped.`}
          </p>
        ) : null}
      </ConfirmDialog>
    </div>
  );
}
