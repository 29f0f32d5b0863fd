/**
 * Every Redis key the queue layer writes, in one place. `prefix` is KEY_PREFIX; bee-queue's own keys live under
 * `<prefix>bq:<queue>:` (its `prefix` setting), Keel's under `<prefix>q:`.
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
}
