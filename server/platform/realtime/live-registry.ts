/** A live subscription as the revocation machinery sees it. */
export interface LiveEntry {
  /** What it depends on, e.g. `user:<id>`, `org:<id>`, `token:<id>`, `session:<id>`. */
  keys: readonly string[];
  /** Re-verifies access and ends the subscription when it is gone. Never throws. */
  recheck(): Promise<void>;
}

/**
 * The live subscriptions of this process, indexed by what they depend on, so that a revocation event (published by
 * whichever process revoked something) rechecks exactly the subscriptions it may affect.
 */
export class LiveRegistry {
  private readonly index = new Map<string, Set<LiveEntry>>();
  private readonly entries = new Set<LiveEntry>();

  get size(): number {
    return this.entries.size;
  }

  add(entry: LiveEntry): () => void {
    this.entries.add(entry);
    for (const key of entry.keys) {
      let set = this.index.get(key);
      if (!set) this.index.set(key, (set = new Set()));
      set.add(entry);
    }
    return () => {
      this.entries.delete(entry);
      for (const key of entry.keys) {
        const set = this.index.get(key);
        set?.delete(entry);
        if (set && !set.size) this.index.delete(key);
      }
    };
  }

  matching(keys: readonly string[]): Set<LiveEntry> {
    const out = new Set<LiveEntry>();
    for (const key of keys) for (const e of this.index.get(key) ?? []) out.add(e);
    return out;
  }

  all(): LiveEntry[] {
    return [...this.entries];
  }
}
