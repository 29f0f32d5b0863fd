interface Entry<T> {
  value: T;
  key: string | null;
  dead: boolean;
}

/**
 * The buffer between a pub/sub listener (which pushes whenever Redis delivers) and one subscriber (which pulls when
 * its socket took the previous message). It is bounded: a subscriber that falls `max` messages behind is told so
 * (push returns false) instead of growing memory without limit. With `keyOf`, a message replaces the one still
 * waiting under the same key (progress, metrics): the newest value moves to the back, so the queue stays in
 * publish order.
 */
export class LiveQueue<T> {
  private entries: Entry<T>[] = [];
  private head = 0;
  private live = 0;
  private readonly byKey = new Map<string, Entry<T>>();
  private waiter: (() => void) | null = null;
  private ended = false;

  constructor(
    private readonly max: number,
    private readonly keyOf?: (value: T) => string | null,
  ) {}

  get size(): number {
    return this.live;
  }

  /** False when the queue was full: the consumer is too slow and must be dropped or resynchronised. */
  push(value: T): boolean {
    if (this.ended) return true;
    const key = this.keyOf?.(value) ?? null;
    if (key !== null) {
      const previous = this.byKey.get(key);
      if (previous) {
        previous.dead = true;
        this.live--;
      }
    }
    if (this.live >= this.max) return false;
    const entry: Entry<T> = { value, key, dead: false };
    if (key !== null) this.byKey.set(key, entry);
    this.entries.push(entry);
    this.live++;
    this.wake();
    return true;
  }

  /** Ends the queue: a waiting or later `next` returns undefined once the buffered messages are taken. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private shift(): T | undefined {
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head++]!;
      if (entry.dead) continue;
      this.live--;
      if (entry.key !== null && this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
      if (this.head > 1024 && this.head * 2 > this.entries.length) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
      return entry.value;
    }
    return undefined;
  }

  /** The next message, or undefined when the queue was ended or the signal aborted. */
  async next(signal: AbortSignal): Promise<T | undefined> {
    for (;;) {
      const value = this.shift();
      if (value !== undefined) return value;
      if (this.ended || signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        this.waiter = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}
