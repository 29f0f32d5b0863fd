import type { Command } from 'commander';
import type { AppDeps } from '../../app-deps.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { QUEUE_NAMES, type QueueName } from '../../platform/queue/definition.ts';
import { parseQueueName, queueOverview, retryFailedJob, retryFailedJobs } from './jobs.service.ts';
import { createAppWorker } from './worker.setup.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

/** `keel work` and `keel queue:*`; main.ts passes how to open the process's deps. */
export function registerQueueCommands(program: Command, openDeps: () => Promise<AppDeps>): void {
  program
    .command('work')
    .description('run a worker: supervisors, scheduler and stall checks (graceful on SIGTERM)')
    .option('--queue <names...>', `only these queues (${QUEUE_NAMES.join(', ')})`)
    .option('--concurrency <n>', 'fixed concurrency per queue instead of the balanced one')
    .option('--no-leader', 'never run the scheduler and stall checker here')
    .action(async (opts: { queue?: string[]; concurrency?: string; leader: boolean }) => {
      let queues: QueueName[] | undefined;
      try {
        queues = opts.queue
          ?.flatMap((q) => q.split(','))
          .filter(Boolean)
          .map(parseQueueName);
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exit(1);
      }
      const concurrency = opts.concurrency ? Math.max(1, Math.floor(Number(opts.concurrency))) : undefined;
      if (concurrency !== undefined && !Number.isFinite(concurrency)) {
        process.stderr.write('--concurrency must be a number\n');
        process.exit(1);
      }
      const deps = await openDeps();
      let stopping = false;
      const stop = async (why: string) => {
        if (stopping) return;
        stopping = true;
        deps.logger.info({ why }, 'worker stopping');
        const force = setTimeout(() => process.exit(1), deps.queue.settings.shutdownGraceMs + 15_000);
        force.unref();
        await worker.stop();
        await deps.close();
        // 0 also after a recycle or queue:terminate: the process manager starts a fresh worker.
        process.exit(0);
      };
      const worker = createAppWorker(deps, {
        ...(queues ? { queues } : {}),
        ...(concurrency ? { concurrency } : {}),
        leader: opts.leader,
        onExitRequest: (reason) => void stop(reason),
      });
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      await worker.start();
      out(`worker ${worker.id} working ${(queues ?? QUEUE_NAMES).join(', ')}`);
    });

  program
    .command('queue:status')
    .description('queue sizes, failures, workers and the last minute of throughput')
    .action(async () => {
      const deps = await openDeps();
      const queues = await withDbScope(deps.em, undefined, (em) => queueOverview(em, deps.queue));
      out('queue      waiting  active  delayed  failed  concurrency  jobs/min  wait p95  paused');
      for (const q of queues) {
        out(
          [
            q.queue.padEnd(9),
            String(q.waiting).padStart(8),
            String(q.active).padStart(7),
            String(q.delayed).padStart(8),
            String(q.failed).padStart(7),
            String(q.concurrency).padStart(12),
            String(q.jobsPerMinute).padStart(9),
            `${q.waitP95Ms} ms`.padStart(9),
            q.paused ? '  yes' : '  no',
          ].join(' '),
        );
      }
      const workers = await deps.queue.workers();
      out(`\n${workers.length} worker(s)`);
      for (const w of workers) {
        const queuesOf = w.supervisors
          .flatMap((s) => s.queues.map((q) => `${q.queue}×${q.concurrency}`))
          .join(' ');
        out(
          `  ${w.id}${w.leader ? ' (leader)' : ''} ${w.status} ${w.memoryMb} MB processed=${w.processed} ${queuesOf}`,
        );
      }
      await deps.close();
      process.exit(0);
    });

  program
    .command('queue:retry')
    .description('queue failed jobs again: one id, or --all (optionally of one --queue)')
    .argument('[id]', 'failed job id')
    .option('--all', 'every failed job')
    .option('--queue <name>', 'with --all: only this queue')
    .action(async (id: string | undefined, opts: { all?: boolean; queue?: string }) => {
      if (!id && !opts.all) {
        process.stderr.write('give a failed job id or --all\n');
        process.exit(1);
      }
      const deps = await openDeps();
      let code = 0;
      try {
        await withDbScope(deps.em, undefined, async (em) => {
          if (id) {
            await retryFailedJob(em, deps.queue, id);
            out(`retried ${id}`);
            return;
          }
          const filter = opts.queue ? { queue: parseQueueName(opts.queue) } : {};
          let total = 0;
          for (;;) {
            const { retried } = await retryFailedJobs(em, deps.queue, { filter, limit: 500 });
            total += retried.length;
            if (retried.length < 500) break;
          }
          out(`retried ${total} job(s)`);
        });
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        code = 1;
      }
      await deps.close();
      process.exit(code);
    });

  program
    .command('queue:terminate')
    .description('ask every running worker to finish its jobs and exit (their process manager restarts them)')
    .action(async () => {
      const deps = await openDeps();
      const workers = await deps.queue.workers();
      await deps.queue.terminateWorkers();
      out(`asked ${workers.length} worker(s) to restart gracefully`);
      await deps.close();
      process.exit(0);
    });
}
