import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { FIELD, type AnyJobDefinition } from './definition.ts';
import type { Envelope } from './envelope.ts';
import type { QueueKeys } from './keys.ts';
import { scripts, searchScript } from './scripts.ts';
import type { QueueSettings } from './settings.ts';

// Secondary indexes of the job index for search (ADR 0026). Each dimension of a job (type, organization, tag,
// declared payload field, state) is a sorted set of job ids scored by dispatch time; a search walks the smallest
// set of its filter within the time range, newest first, and checks the others by ZSCORE, in one script call.
// Family `r` holds every job of the recent window (written at dispatch and with every outcome), family `f` failed
// jobs for their retention; both are trimmed by score with the records they point to. `pending` has no set: it is
// the recent jobs in none of the other state sets (one sorted-set write fewer at dispatch and at the first outcome,
// the path every job takes).

/** What a search can ask for; `pending` is queued, delayed or running before its first outcome. */
export const SEARCH_STATES = ['pending', 'retrying', 'released', 'completed', 'failed', 'cancelled'] as const;
export type SearchState = (typeof SEARCH_STATES)[number];
/** The states with a set: a job leaves one of the first two with its next outcome. */
const STATE_SETS = ['retrying', 'released', 'completed', 'failed', 'cancelled'] as const;
const NON_FINAL = STATE_SETS.slice(0, 2);

export interface SearchFilter {
  name?: string | undefined;
  /** An organization's id, or null for system jobs. */
  organizationId?: string | null | undefined;
  tag?: string | undefined;
  /** Declared payload fields (`indexed` in defineJob), each value matched exactly. */
  fields?: Record<string, string> | undefined;
  state?: SearchState | undefined;
  /** Dispatch time range, ms, inclusive. */
  from?: number | undefined;
  to?: number | undefined;
}

export interface SearchPage {
  hits: { id: string; at: number }[];
  /** Where the next page starts; null once the range is walked to its end. */
  cursor: string | null;
  /** Index entries walked for this page (the work it cost). */
  walked: number;
}

/** Longest field value that is indexed: values are part of key names. */
const MAX_VALUE = 200;

const stateOf = (status: string): SearchState =>
  status === 'queued' || status === 'delayed' || status === 'running' ? 'pending' : (status as SearchState);

const cursorSchema = z
  .object({
    p: z.number().int().min(0).max(1),
    s: z.string().max(24),
    n: z.number().int().min(0),
    cut: z.number().int().min(0),
  })
  .strict();
type Cursor = z.infer<typeof cursorSchema>;

function decodeCursor(raw: string): Cursor {
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(raw, 'base64url').toString()));
    if (parsed.success) return parsed.data;
  } catch {
    // Falls through to the typed error below.
  }
  throw new AppError('VALIDATION_FAILED', 'Invalid search cursor', {
    fieldErrors: { cursor: ['is invalid'] },
  });
}

const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');

export class SearchIndex {
  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly retention: QueueSettings['retention'],
    private readonly definitionOf: (name: string) => AnyJobDefinition | undefined,
  ) {}

  /** The dimensions of a job besides its state: `all`, type, organization, tags and declared fields. */
  private dims(env: Envelope): string[] {
    const dims = ['all', `type:${env.name}`, `org:${env.org ?? '-'}`];
    for (const tag of env.tags ?? []) dims.push(`tag:${tag}`);
    const def = this.definitionOf(env.name);
    if (!def?.indexed) return dims;
    let fields: ReturnType<NonNullable<AnyJobDefinition['indexed']>>;
    try {
      const parsed = def.payload.safeParse(env.payload);
      fields = parsed.success ? def.indexed(parsed.data) : {};
    } catch {
      // A declared field function that throws makes the job unsearchable by its fields, nothing else.
      fields = {};
    }
    const sensitive = new Set(def.sensitive ?? []);
    for (const [field, value] of Object.entries(fields)) {
      if (value === undefined || value === null || sensitive.has(field) || !FIELD.test(field)) continue;
      const text = String(value);
      if (text.length && text.length <= MAX_VALUE) dims.push(`fld:${field}=${text}`);
    }
    return dims;
  }

  /**
   * The index writes of one outcome (or of an operator's requeue), as sections of the index script. The job's
   * dimensions in family `r` were written at its dispatch (same score: they only change with a requeue), so an
   * outcome moves it between the `state:` sets — out of the non-final ones, the only states an outcome follows —
   * and adds it to family `f` when it failed for good.
   */
  writes(
    id: string,
    env: Envelope,
    status: string,
  ): { zadd: (string | number)[]; zrem: string[]; sadd: string[] } {
    const zadd: (string | number)[] = [];
    const zrem: string[] = [];
    const sadd: string[] = [];
    const state = stateOf(status);
    const add = (family: 'r' | 'f', dim: string) => {
      const key = this.keys.ix(family, dim);
      zadd.push(key, env.at, id);
      sadd.push(this.keys.ixKeys(family), key);
    };
    const requeue = state === 'pending';
    const dims = requeue || state === 'failed' ? this.dims(env) : [];
    if (!requeue) add('r', `state:${state}`);
    // A first attempt's outcome follows `pending` alone, which has no set (retries and releases count attempts too).
    const before = requeue ? STATE_SETS : env.attempts <= 1 ? [] : NON_FINAL;
    for (const other of before) if (other !== state) zrem.push(this.keys.ix('r', `state:${other}`), id);
    if (state === 'failed') for (const dim of dims) add('f', dim);
    if (requeue) {
      // Queued again by an operator, from failed_jobs or the index: new dispatch time, no longer among the failed.
      for (const dim of dims) {
        add('r', dim);
        zrem.push(this.keys.ix('f', dim), id);
      }
    }
    return { zadd, zrem, sadd };
  }

  /** Fresh jobs are searchable from their dispatch: one pipeline, one ZADD per key. */
  async dispatched(jobs: { id: string; env: Envelope }[]): Promise<void> {
    if (!jobs.length) return;
    const byKey = new Map<string, (string | number)[]>();
    for (const { id, env } of jobs) {
      for (const dim of this.dims(env)) {
        const key = this.keys.ix('r', dim);
        const list = byKey.get(key) ?? [];
        list.push(env.at, id);
        byKey.set(key, list);
      }
    }
    const p = this.redis.pipeline();
    for (const [key, members] of byKey) p.zadd(key, ...members);
    p.sadd(this.keys.ixKeys('r'), ...byKey.keys());
    await p.exec();
  }

  /** Drops entries past their family's retention, a chunk of keys per script call (never one long call). */
  async trim(now = Date.now()): Promise<void> {
    const cutoffs = {
      r: now - this.retention.recentMs,
      f: now - this.retention.failedMs,
    } as const;
    for (const family of ['r', 'f'] as const) {
      const set = this.keys.ixKeys(family);
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.sscan(set, cursor, 'COUNT', 500);
        cursor = next;
        if (keys.length) await scripts.trimKeys(this.redis, [set], [cutoffs[family], ...keys]);
      } while (cursor !== '0');
    }
  }

  /**
   * One page of job ids matching every filter, newest dispatch first. Without a state filter the recent window
   * comes from family `r` and older failed jobs from family `f` (two disjoint time ranges, walked in turn); a
   * `failed` filter reads family `f` (its whole retention), any other state family `r`.
   */
  async search(filter: SearchFilter, opts: { cursor?: string | undefined; limit: number; budget: number }) {
    const start = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    const cut = start?.cut ?? Date.now() - this.retention.recentMs;
    const from = filter.from ?? 0;
    const to = filter.to ?? Number.MAX_SAFE_INTEGER;
    const dims: string[] = [];
    if (filter.name) dims.push(`type:${filter.name}`);
    if (filter.organizationId !== undefined) dims.push(`org:${filter.organizationId ?? '-'}`);
    if (filter.tag) dims.push(`tag:${filter.tag}`);
    for (const [field, value] of Object.entries(filter.fields ?? {})) dims.push(`fld:${field}=${value}`);
    const phases: { family: 'r' | 'f'; dims: string[]; not?: string[]; min: number; max: number }[] =
      filter.state === 'failed'
        ? [{ family: 'f', dims, min: from, max: to }]
        : filter.state === 'pending'
          ? [{ family: 'r', dims, not: STATE_SETS.map((st) => `state:${st}`), min: from, max: to }]
          : filter.state
            ? [{ family: 'r', dims: [...dims, `state:${filter.state}`], min: from, max: to }]
            : [
                { family: 'r', dims, min: Math.max(from, cut), max: to },
                { family: 'f', dims, min: from, max: Math.min(to, cut - 1) },
              ];
    const page: SearchPage = { hits: [], cursor: null, walked: 0 };
    for (let p = start?.p ?? 0; p < phases.length; p++) {
      const phase = phases[p]!;
      if (phase.min > phase.max) continue;
      const resume = start && start.p === p ? start : { s: '', n: 0 };
      if (page.hits.length >= opts.limit || page.walked >= opts.budget) {
        page.cursor = encodeCursor({ p, s: resume.s, n: resume.n, cut });
        break;
      }
      // The family's `all` set only when no dimension narrows it (every dimension set is the family's own).
      const not = phase.not ?? [];
      const keys = [...(phase.dims.length ? phase.dims : ['all']), ...not].map((d) =>
        this.keys.ix(phase.family, d),
      );
      const [pairs, score, run, done, walked] = (await searchScript(this.redis, keys, [
        phase.max,
        phase.min,
        resume.s,
        resume.n,
        opts.limit - page.hits.length,
        opts.budget - page.walked,
        not.length,
      ])) as [string[], string, number, number, number];
      for (let i = 0; i < pairs.length; i += 2) page.hits.push({ id: pairs[i]!, at: Number(pairs[i + 1]) });
      page.walked += walked;
      if (!done) {
        page.cursor = encodeCursor({ p, s: score, n: run, cut });
        break;
      }
    }
    return page;
  }
}
