import type { Redis } from 'ioredis';
import type { Envelope } from './envelope.ts';
import type { StoreKeys } from './keys.ts';
import { scripts } from './scripts.ts';

// Keel's storage contract on bee-queue's keys (ADR 0021): the layout of a queue (keys.ts `StoreKeys`), the encoding
// of a job's record in the `jobs` hash (here), and every script that moves jobs between the lists (scripts.ts). Keel
// runs it all on its own ioredis connections; bee-queue's public API reads and writes the same queues, which
// store-compat.int.test.ts proves, so operators' bee-queue tools keep working and bee-queue itself is needed by no
// running code.

/** bee-queue's job options as its Job class writes them; Keel only ever sets `timestamp` and `delay`. */
export interface StoredJobOptions {
  /** When the job was first created (ms). */
  timestamp: number;
  stacktraces: string[];
  /** Due time (ms) of a job saved delayed. */
  delay?: number;
  [other: string]: unknown;
}

/** One job as the `jobs` hash holds it: bee-queue's Job `data`, `options`, `status` and `progress`. */
export interface StoredJob {
  id: string;
  /** Keel's envelope (a job saved by bee-queue's own API may carry anything; the runner refuses what is not one). */
  data: Envelope;
  options: StoredJobOptions;
  status: string;
  progress: number;
}

/** A job to save: its id, envelope, and due time when it is delayed. */
export interface NewJob {
  id: string;
  env: Envelope;
  delayUntil: number | null;
}

/** The record's text, field for field what bee-queue's Job class writes when it saves (same fields, same order). */
export function encodeJob(job: Omit<StoredJob, 'id'>): string {
  return JSON.stringify({ data: job.data, options: job.options, status: job.status, progress: job.progress });
}

/** Reads a record as bee-queue's Job class does when it loads one. */
export function decodeJob(id: string, raw: string): StoredJob {
  const parsed = JSON.parse(raw) as Partial<Omit<StoredJob, 'id'>>;
  return {
    id,
    data: parsed.data as Envelope,
    options: parsed.options ?? { timestamp: 0, stacktraces: [] },
    status: parsed.status ?? 'created',
    progress: parsed.progress ?? 0,
  };
}

/** Only the envelope of a record (the index and depth reads). */
export const envelopeOf = (raw: string): Envelope => (JSON.parse(raw) as { data: Envelope }).data;

/**
 * Saves jobs into one queue in one script call: what bee-queue's `createJob(data).setId(id).delayUntil(t).save()`
 * does per job. Resolves to the ids saved; an id the queue already holds is refused (left out).
 */
export async function saveJobs(redis: Redis, k: StoreKeys, jobs: NewJob[]): Promise<string[]> {
  if (!jobs.length) return [];
  const now = Date.now();
  const args: (string | number)[] = [k.orgWaiting];
  for (const j of jobs) {
    // bee sets `delay` only for a due time still ahead; a past one is saved straight onto waiting.
    const due = j.delayUntil !== null && j.delayUntil > now ? j.delayUntil : 0;
    const options: StoredJobOptions = { timestamp: now, stacktraces: [], ...(due ? { delay: due } : {}) };
    // A job of an organization waits in its organization's list (ADR 0024); others in bee's `waiting`.
    args.push(
      j.id,
      encodeJob({ data: j.env, options, status: 'created', progress: 0 }),
      due,
      j.env.org ?? '',
    );
  }
  const saved = (await scripts.addJobs(
    redis,
    [k.id, k.jobs, k.waiting, k.delayed, k.earlierDelayed, k.orgs, k.orgOf, k.ready],
    args,
  )) as (string | null)[];
  return saved.filter((id): id is string => id !== null);
}

/**
 * bee-queue 2.0 talks to Redis through its own node_redis v3 client and does not recognise ioredis instances, so
 * whoever opens a bee-queue Queue on Keel's queues (the compatibility test, the benchmark's baseline, an operator's
 * tool) gives it connection options parsed from REDIS_URL.
 */
export function beeRedisOptions(url: string): Record<string, unknown> {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
