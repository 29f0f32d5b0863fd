import { Transform, type Readable, type TransformCallback } from 'node:stream';

/** What Keel needs from a file store: private objects, streamed in and out, shared only through signed URLs. */
export interface Storage {
  readonly driver: 'local' | 's3';
  /** Streams `body` to `key`. Nothing is visible under `key` unless the whole body arrived (a failure leaves no file). */
  put(key: string, body: Readable | Uint8Array | string, opts?: PutOptions): Promise<StoredObject>;
  /** Streams the object; ObjectNotFoundError when there is none. */
  get(key: string): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Removes the object; a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** A URL anyone holding it can download the object from until it expires. */
  downloadUrl(key: string, opts: DownloadUrlOptions): Promise<string>;
  /**
   * Removes what writes of `key` that never finished left behind (their writer was killed: a failed or aborted put
   * cleans up after itself). Only for a caller that owns the key, with no put of it in progress anywhere. The local
   * driver removes its temporary files; S3 leaves incomplete multipart uploads to the bucket's
   * AbortIncompleteMultipartUpload lifecycle rule (docs/operations.md).
   */
  discardIncomplete?(key: string): Promise<void>;
  /**
   * Removes every temporary file of an unfinished write last written to over `olderThanMs` ago, returning their
   * keys. A write in progress touches its file with every chunk, so only writers that died (kill -9, a crash, a
   * power cut) leave files this old. The local driver's; S3 leaves them to the bucket's lifecycle rule.
   */
  sweepIncomplete?(olderThanMs: number): Promise<string[]>;
  /** Releases connections (S3's sockets). */
  close?(): void;
}

export interface PutOptions {
  contentType?: string;
  /** Aborting stops the transfer and removes what was written. */
  signal?: AbortSignal;
  /** More bytes than this fail the put with ObjectTooLargeError (and leave no file). */
  maxBytes?: number;
  /** Refuse (ObjectExistsError) instead of replacing an existing object. */
  overwrite?: boolean;
}

export interface StoredObject {
  key: string;
  bytes: number;
}

export interface ObjectInfo {
  bytes: number;
  contentType: string | undefined;
}

export interface DownloadUrlOptions {
  expiresInSeconds: number;
  /** The file name the browser saves it under. */
  filename?: string;
}

export class InvalidKeyError extends Error {
  override name = 'InvalidKeyError';
}
export class ObjectNotFoundError extends Error {
  override name = 'ObjectNotFoundError';
  constructor(readonly key: string) {
    super(`No object at ${key}`);
  }
}
export class ObjectTooLargeError extends Error {
  override name = 'ObjectTooLargeError';
  constructor(readonly maxBytes: number) {
    super(`The file is larger than ${maxBytes} bytes`);
  }
}
export class ObjectExistsError extends Error {
  override name = 'ObjectExistsError';
  constructor(readonly key: string) {
    super(`An object already exists at ${key}`);
  }
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const MAX_KEY = 512;

/**
 * Keys are '/'-separated segments of letters, digits, '.', '_' and '-', never starting with a dot: no '..', no
 * absolute paths, no backslashes, no empty segments, no encodings to decode. Both drivers refuse anything else,
 * which is what makes path traversal impossible rather than merely checked for.
 */
export function assertKey(key: string): string {
  if (typeof key !== 'string' || !key || key.length > MAX_KEY)
    throw new InvalidKeyError('Invalid storage key');
  for (const segment of key.split('/')) {
    if (!SEGMENT.test(segment))
      throw new InvalidKeyError(`Invalid storage key segment "${segment.slice(0, 40)}"`);
  }
  return key;
}

/** Counts bytes going through, failing once there are more than `max`. */
export class ByteCounter extends Transform {
  bytes = 0;
  constructor(private readonly max: number = Number.POSITIVE_INFINITY) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) done(new ObjectTooLargeError(this.max));
    else done(null, chunk);
  }
}

/** `attachment` with a plain-ASCII fallback name and the exact one per RFC 6266 / 5987. */
export function contentDisposition(filename: string | undefined): string {
  if (!filename) return 'attachment';
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

export function contentTypeFor(key: string): string {
  if (key.endsWith('.csv')) return 'text/csv; charset=utf-8';
  if (key.endsWith('.txt')) return 'text/plain; charset=utf-8';
  if (key.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}
