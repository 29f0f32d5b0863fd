import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, opendir, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encodeKey, type UrlSigner } from './signing.ts';
import {
  assertKey,
  ByteCounter,
  contentTypeFor,
  ObjectExistsError,
  ObjectNotFoundError,
  type DownloadUrlOptions,
  type ObjectInfo,
  type PutOptions,
  type Storage,
  type StoredObject,
} from './storage.ts';

const PARTIAL = '.partial';
/** A temporary file's name: the target's, a random tag, PARTIAL. */
const TEMP_TAG = /^\.[0-9a-f]{12}\.partial$/;
/** Any temporary file's name: a target's name (at least one character), then the tag. */
const TEMP_FILE = /.\.[0-9a-f]{12}\.partial$/;

/**
 * Files under one directory: the embedded default. Writes go to a temporary name beside the target and are renamed
 * (or hard-linked, when overwriting is refused) into place only once complete, so a reader never sees half a file
 * and a failed or aborted write leaves nothing behind. Downloads go through Keel's `/files/…` route with a signed,
 * expiring URL.
 */
export class LocalStorage implements Storage {
  readonly driver = 'local' as const;
  readonly root: string;

  constructor(
    root: string,
    readonly signer: UrlSigner,
    private readonly baseUrl: string,
  ) {
    this.root = path.resolve(root);
  }

  /** The file behind a key. The key grammar already forbids escaping the root; the prefix check is a second lock. */
  pathOf(key: string): string {
    const full = path.resolve(this.root, assertKey(key));
    if (!full.startsWith(this.root + path.sep))
      throw new Error('Storage key resolves outside the storage root');
    return full;
  }

  async put(key: string, body: Readable | Uint8Array | string, opts: PutOptions = {}): Promise<StoredObject> {
    const target = this.pathOf(key);
    if (opts.overwrite === false && (await this.head(key))) throw new ObjectExistsError(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}${PARTIAL}`; // matches TEMP_TAG
    const counter = new ByteCounter(opts.maxBytes);
    const source =
      body instanceof Readable ? body : Readable.from([typeof body === 'string' ? Buffer.from(body) : body]);
    try {
      await pipeline(source, counter, createWriteStream(temp, { flags: 'wx' }), {
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (opts.overwrite === false) {
        // link() fails with EEXIST instead of replacing: two racing uploads cannot both win.
        await link(temp, target).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' ? new ObjectExistsError(key) : err;
        });
        await unlink(temp);
      } else {
        await rename(temp, target);
      }
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      if (!source.destroyed) source.destroy();
      throw opts.signal?.aborted && !(err instanceof ObjectExistsError) ? (opts.signal.reason ?? err) : err;
    }
    return { key, bytes: counter.bytes };
  }

  async get(key: string): Promise<Readable> {
    // Opened here, not by the stream when first read: a file deleted after this answered is still read whole (the
    // open descriptor keeps it), instead of the stream emitting ENOENT later — with nobody listening yet if the
    // caller awaits something first, which crashed the worker process (secret-scan test, a deleted import upload).
    const handle = await open(this.pathOf(key), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EISDIR') throw new ObjectNotFoundError(key);
      throw err;
    });
    const info = await handle.stat().catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
    if (!info.isFile()) {
      await handle.close();
      throw new ObjectNotFoundError(key);
    }
    return handle.createReadStream();
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const info = await stat(this.pathOf(key)).catch(() => null);
    return info?.isFile() ? { bytes: info.size, contentType: contentTypeFor(key) } : null;
  }

  async delete(key: string): Promise<void> {
    await unlink(this.pathOf(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async discardIncomplete(key: string): Promise<void> {
    const target = this.pathOf(key);
    const name = path.basename(target);
    const names = await readdir(path.dirname(target)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const n of names) {
      if (!n.startsWith(name) || !TEMP_TAG.test(n.slice(name.length))) continue;
      await unlink(path.join(path.dirname(target), n)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  }

  async sweepIncomplete(olderThanMs: number): Promise<string[]> {
    const before = Date.now() - olderThanMs;
    const removed: string[] = [];
    // Streamed, not listed: the tree holds every stored file.
    const dir = await opendir(this.root, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (!dir) return removed;
    for await (const entry of dir) {
      if (!entry.isFile() || !TEMP_FILE.test(entry.name)) continue;
      const file = path.join(entry.parentPath, entry.name);
      const info = await stat(file).catch(() => null);
      if (!info || info.mtimeMs >= before) continue;
      await unlink(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      removed.push(path.relative(this.root, file).split(path.sep).join('/'));
    }
    return removed;
  }

  async downloadUrl(key: string, opts: DownloadUrlOptions): Promise<string> {
    assertKey(key);
    const expires = Math.floor(Date.now() / 1000) + Math.max(1, Math.floor(opts.expiresInSeconds));
    const params = { op: 'get' as const, key, expires, ...(opts.filename ? { name: opts.filename } : {}) };
    return signedFileUrl(this.baseUrl, '/files/', params, this.signer.sign(params));
  }
}

/** The URL form both routes read: `<base><path><base64url key>?expires=…[&name=…][&max=…]&signature=…`. */
export function signedFileUrl(
  baseUrl: string,
  route: string,
  p: { key: string; expires: number; name?: string; max?: number },
  signature: string,
): string {
  const url = new URL(`${route}${encodeKey(p.key)}`, baseUrl);
  url.searchParams.set('expires', String(p.expires));
  if (p.name) url.searchParams.set('name', p.name);
  if (p.max !== undefined) url.searchParams.set('max', String(p.max));
  url.searchParams.set('signature', signature);
  return url.toString();
}
