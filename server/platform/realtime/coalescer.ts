interface Window<T> {
  value: T | undefined;
  timer: NodeJS.Timeout;
}

/**
 * Publisher-side coalescing for high-rate streams (progress, metrics): per key, at most one send per interval; the
 * first value goes at once, later ones within the interval collapse into the newest, which goes when the interval
 * ends. `flush` sends a key's value at once (terminal states must never wait or be merged away).
 */
export class Coalescer<T> {
  private readonly windows = new Map<string, Window<T>>();

  constructor(
    private readonly intervalMs: number,
    private readonly send: (key: string, value: T) => Promise<unknown>,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  push(key: string, value: T): void {
    const open = this.windows.get(key);
    if (open) {
      open.value = value;
      return;
    }
    this.emit(key, value);
    this.openWindow(key);
  }

  private openWindow(key: string): void {
    const w: Window<T> = {
      value: undefined,
      timer: setTimeout(() => {
        if (w.value === undefined) {
          this.windows.delete(key);
          return;
        }
        const v = w.value;
        this.windows.delete(key);
        this.emit(key, v);
        this.openWindow(key);
      }, this.intervalMs),
    };
    w.timer.unref();
    this.windows.set(key, w);
  }

  /** Sends now, dropping whatever was waiting under the key. */
  async flush(key: string, value: T): Promise<void> {
    const w = this.windows.get(key);
    if (w) clearTimeout(w.timer);
    this.windows.delete(key);
    await this.send(key, value);
  }

  private emit(key: string, value: T): void {
    this.send(key, value).catch(this.onError);
  }

  /** Keys with a window open (for tests and metrics). */
  get open(): number {
    return this.windows.size;
  }

  stop(): void {
    for (const w of this.windows.values()) clearTimeout(w.timer);
    this.windows.clear();
  }
}
