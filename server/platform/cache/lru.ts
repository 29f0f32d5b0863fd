/** One value held in process memory. */
export interface L1Entry {
  value: unknown;
  /** Approximate size: the length of the value's serialized form. */
  bytes: number;
  tags: readonly string[];
  /** Fresh until then (ms since epoch). */
  expiresAt: number;
  /** Kept after expiry, until then, only as a fallback when Redis or the factory fails. */
  staleUntil: number;
  /** How long the factory took to compute it (ms): XFetch refreshes slow values earlier. */
  delta: number;
}

/**
 * The in-process layer: an LRU bounded by both entry count and bytes (a few huge values must not push the process
 * out of memory, and millions of tiny ones must not either), with a tag index so a tag flush drops exactly the
 * entries that carry it. A Map keeps insertion order, so re-inserting on read makes its first key the least
 * recently used.
 */
export class LruStore {
  private readonly entries = new Map<string, L1Entry>();
  private readonly tagIndex = new Map<string, Set<string>>();
  private bytes = 0;
  evictions = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {
    if (maxEntries < 1 || maxBytes < 1) throw new Error('LruStore bounds must be positive');
  }

  get size(): number {
    return this.entries.size;
  }

  get byteSize(): number {
    return this.bytes;
  }

  get(key: string, now = Date.now()): L1Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.staleUntil <= now) {
      this.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Stores the entry; one larger than the whole byte budget is not kept (and evicts an older copy). */
  set(key: string, entry: L1Entry): boolean {
    this.delete(key);
    if (entry.bytes > this.maxBytes) return false;
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    for (const tag of entry.tags) {
      let keys = this.tagIndex.get(tag);
      if (!keys) this.tagIndex.set(tag, (keys = new Set()));
      keys.add(key);
    }
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
      this.evictions++;
    }
    return true;
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    for (const tag of entry.tags) {
      const keys = this.tagIndex.get(tag);
      if (!keys) continue;
      keys.delete(key);
      if (!keys.size) this.tagIndex.delete(tag);
    }
    return true;
  }

  deleteTags(tags: readonly string[]): number {
    let n = 0;
    for (const tag of tags) {
      const keys = this.tagIndex.get(tag);
      if (!keys) continue;
      for (const key of [...keys]) if (this.delete(key)) n++;
    }
    return n;
  }

  clear(): void {
    this.entries.clear();
    this.tagIndex.clear();
    this.bytes = 0;
  }
}
