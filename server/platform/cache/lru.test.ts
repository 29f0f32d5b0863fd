import { describe, expect, it } from 'vitest';
import { LruStore, type L1Entry } from './lru.ts';

const entry = (bytes: number, tags: string[] = [], ttlMs = 60_000): L1Entry => ({
  value: { bytes },
  bytes,
  tags,
  expiresAt: Date.now() + ttlMs,
  staleUntil: Date.now() + ttlMs * 2,
  delta: 1,
});

describe('LruStore', () => {
  it('evicts the least recently used entry when the entry bound is reached', () => {
    const lru = new LruStore(2, 1_000);
    lru.set('a', entry(1));
    lru.set('b', entry(1));
    expect(lru.get('a')).toBeDefined(); // a is now more recent than b
    lru.set('c', entry(1));
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBeDefined();
    expect(lru.get('c')).toBeDefined();
    expect(lru.evictions).toBe(1);
  });

  it('evicts by bytes and refuses a value larger than the whole budget', () => {
    const lru = new LruStore(100, 100);
    lru.set('a', entry(40));
    lru.set('b', entry(40));
    lru.set('c', entry(40));
    expect(lru.get('a')).toBeUndefined();
    expect(lru.byteSize).toBe(80);
    expect(lru.set('huge', entry(101))).toBe(false);
    expect(lru.get('huge')).toBeUndefined();
    expect(lru.byteSize).toBe(80);
  });

  it('replacing a key keeps the byte count exact', () => {
    const lru = new LruStore(10, 1_000);
    lru.set('a', entry(100));
    lru.set('a', entry(30));
    expect(lru.byteSize).toBe(30);
    expect(lru.size).toBe(1);
  });

  it('drops every entry of a flushed tag and nothing else', () => {
    const lru = new LruStore(10, 1_000);
    lru.set('a', entry(1, ['x']));
    lru.set('b', entry(1, ['x', 'y']));
    lru.set('c', entry(1, ['y']));
    expect(lru.deleteTags(['x'])).toBe(2);
    expect(lru.get('a')).toBeUndefined();
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('c')).toBeDefined();
    expect(lru.deleteTags(['y', 'unknown'])).toBe(1);
    expect(lru.size).toBe(0);
  });

  it('forgets entries past their grace period', () => {
    const lru = new LruStore(10, 1_000);
    lru.set('old', { ...entry(1), expiresAt: Date.now() - 10, staleUntil: Date.now() - 1 });
    expect(lru.get('old')).toBeUndefined();
    expect(lru.size).toBe(0);
  });

  it('refuses nonsensical bounds', () => {
    expect(() => new LruStore(0, 10)).toThrow();
  });
});
