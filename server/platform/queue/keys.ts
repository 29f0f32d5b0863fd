/** The keys of one queue in bee-queue's layout (ADR 0021: Keel owns this contract; store.ts says what each holds). */
export interface StoreKeys {
  /** Counter for ids bee gives jobs saved without one (Keel always names its jobs). */
  id: string;
  /** Hash: job id → encoded job record (store.ts). */
  jobs: string;
  /** List: ids ready to run, pushed on the left, taken from the right. */
  waiting: string;
  /** List: ids taken by a worker. */
  active: string;
  /** Sorted set: ids of delayed jobs by due time (ms). */
  delayed: string;
  /** Set: active ids marked by the stall checker, cleared by their worker's renewal. */
  stalling: string;
  /** The stall checker's once-per-interval guard. */
  stallBlock: string;
  /** Pub/sub channel: the due time of a delayed job that became the earliest. */
  earlierDelayed: string;
  // Fairness between organizations (ADR 0024): Keel's keys beside bee's, under the same queue prefix.
  /** List: organizations with waiting jobs, each once, in turn order (taken from the right, put back left). */
  orgs: string;
  /** Hash: job id → organization, for every job of an organization this queue holds (waiting, delayed, active). */
  orgOf: string;
  /** Hash: organization → its jobs in `active` (recounted by the stall checker). */
  running: string;
  /** Hash: organization → plan tier; absent means `free`. */
  tiers: string;
  /** Set: organizations a take left with waiting jobs because of their cap (the end of a job of one wakes consumers). */
  capped: string;
  /** Hash: organization turns since the plain `waiting` list's last turn, and what is left of the current turn. */
  turn: string;
  /** Pub/sub channel: jobs became available where none were (the consumers' wake-up). */
  ready: string;
  /** Prefix of an organization's waiting list (`orgWaiting + id`: pushed left, taken right). */
  orgWaiting: string;
}

const STORE_KEYS = [
  'id',
  'jobs',
  'waiting',
  'active',
  'delayed',
  'stalling',
  'stallBlock',
  'earlierDelayed',
  'orgs',
  'orgOf',
  'running',
  'tiers',
  'capped',
  'turn',
  'ready',
] as const;

/**
 * Every Redis key the queue layer writes, in one place. `prefix` is KEY_PREFIX; the queues themselves live under
 * `<prefix>bq:<queue>:` in bee-queue's layout (its `prefix` setting), Keel's other keys under `<prefix>q:`.
 */
export class QueueKeys {
  readonly bee: string;
  readonly q: string;

  constructor(prefix: string) {
    this.bee = `${prefix}bq`;
    this.q = `${prefix}q:`;
  }

  beeKey(queue: string, key: string): string {
    return `${this.bee}:${queue}:${key}`;
  }

  store(queue: string): StoreKeys {
    const keys = {} as Record<(typeof STORE_KEYS)[number], string>;
    for (const k of STORE_KEYS) keys[k] = this.beeKey(queue, k);
    return { ...keys, orgWaiting: this.beeKey(queue, 'org:') };
  }

  /** One job's index record, a JSON string (`job:` held hashes before; the new name keeps old records out of reach). */
  job(id: string) {
    return `${this.q}jobrec:${id}`;
  }
  recent() {
    return `${this.q}recent`;
  }
  completed() {
    return `${this.q}completed`;
  }
  failed() {
    return `${this.q}failed`;
  }
  tag(tag: string) {
    return `${this.q}tag:${tag}`;
  }
  tags() {
    return `${this.q}tags`;
  }
  unique(name: string, id: string) {
    return `${this.q}unique:${name}:${id}`;
  }
  overlap(name: string, key: string) {
    return `${this.q}overlap:${name}:${key}`;
  }
  rateLimit(name: string) {
    return `${this.q}rl:${name}:`;
  }
  stalls(queue: string) {
    return `${this.q}stalls:${queue}`;
  }
  batch(id: string) {
    return `${this.q}batch:${id}`;
  }
  batchDone(id: string) {
    return `${this.q}batch:${id}:done`;
  }
  batchFailed(id: string) {
    return `${this.q}batch:${id}:failed`;
  }
  batches() {
    return `${this.q}batches`;
  }
  metric(minute: number, queue: string, name: string) {
    return `${this.q}m:${minute}:${queue}:${name}`;
  }
  metricTypes() {
    return `${this.q}m:types`;
  }
  workers() {
    return `${this.q}workers`;
  }
  workersSeen() {
    return `${this.q}workers:seen`;
  }
  paused() {
    return `${this.q}paused`;
  }
  terminate() {
    return `${this.q}terminate`;
  }
  leader(name: string) {
    return `${this.q}leader:${name}`;
  }
  schedule(task: string, tick: number) {
    return `${this.q}sched:${task}:${tick}`;
  }
  /**
   * Job search (ADR 0026): sorted sets of job ids by dispatch time, one per dimension (`type:…`, `org:…`, `state:…`,
   * `tag:…`, `fld:<field>:<value>`, `all`), in two families: `r` every job of the recent window, `f` failed jobs.
   */
  ix(family: 'r' | 'f', dim: string) {
    return `${this.q}ix:${family}:${dim}`;
  }
  /** Set: every `ix` key of a family, for the trim. */
  ixKeys(family: 'r' | 'f') {
    return `${this.q}ix:${family}-keys`;
  }
  /** A bulk action's confirmation (ops.jobs.bulkPreview): the previewed ids, for a few minutes. */
  bulk(token: string) {
    return `${this.q}bulk:${token}`;
  }
}
