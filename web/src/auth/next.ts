/**
 * Where to go after signing in, from a `?next=` parameter anyone can craft: only a path on this site. Browsers read
 * `/\evil.test` and `/<tab>/evil.test` as other hosts, so the path is resolved the way a browser would and kept only
 * if it stays on `origin`.
 */
export function safeNext(next: string | null, origin: string): string | null {
  if (!next || !next.startsWith('/')) return null;
  if (!URL.canParse(next, origin)) return null;
  const url = new URL(next, origin);
  if (url.origin !== origin) return null;
  return url.pathname + url.search + url.hash;
}
