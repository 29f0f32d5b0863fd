/**
 * Collects the calls made in one turn of the event loop and settles them all with one `send`: the queue's Redis
 * reads and writes then cost one round trip per turn instead of one per job. `send` answers item i with its
 * result i (a shorter answer leaves the rest undefined); when it fails, every call of the turn fails with it.
 */
export class TurnBatch<T, R = void> {
  private items: T[] = [];
  private waiters: { resolve: (r: R | undefined) => void; reject: (err: unknown) => void }[] = [];

  constructor(
    private readonly send: (items: T[]) => Promise<readonly R[] | void>,
    /** When to send: `process.nextTick` once the promise callbacks now pending have run, `setImmediate` after I/O too. */
    private readonly schedule: (flush: () => void) => void = setImmediate,
  ) {}

  add(item: T): Promise<R | undefined> {
    return new Promise((resolve, reject) => {
      this.items.push(item);
      if (this.waiters.push({ resolve, reject }) === 1) this.schedule(() => this.flush());
    });
  }

  private flush(): void {
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.send(items).then(
      (results) => waiters.forEach((w, i) => w.resolve(results?.[i])),
      (err: unknown) => waiters.forEach((w) => w.reject(err)),
    );
  }
}
