import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../platform/queue/definition.ts';
import type { IFailedJob } from './failed-job.entity.ts';
import { toFailedOutput } from './jobs.service.ts';

const mailLike = defineJob({
  name: 'test.mailLike',
  payload: z.object({ to: z.string(), template: z.string() }),
  sensitive: ['to'],
  handle: () => undefined,
});

describe('failed_jobs rows as ops.jobs.failed answers them', () => {
  it('redact the fields the definition declares sensitive (the row keeps them for a retry)', () => {
    const row = {
      id: 'j1',
      queue: 'default',
      name: 'test.mailLike',
      organization: null,
      batchId: null,
      payload: { to: 'secret@example.test', template: 'welcome' },
      envelope: {},
      error: 'boom',
      attempts: 1,
      failedAt: new Date(0),
    } as unknown as IFailedJob;
    const out = toFailedOutput(row, (name) => (name === mailLike.name ? mailLike : undefined));
    expect(JSON.parse(out.payload)).toEqual({ to: '[redacted]', template: 'welcome' });
    expect(row.payload).toEqual({ to: 'secret@example.test', template: 'welcome' });
    // A row of a job this process does not know: nothing declared, nothing redacted.
    expect(JSON.parse(toFailedOutput(row, () => undefined).payload)).toHaveProperty(
      'to',
      'secret@example.test',
    );
  });
});
