import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  assertKey,
  ByteCounter,
  contentDisposition,
  contentTypeFor,
  ObjectExistsError,
  ObjectNotFoundError,
  type DownloadUrlOptions,
  type ObjectInfo,
  type PutOptions,
  type Storage,
  type StoredObject,
} from './storage.ts';

export interface S3Options {
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  forcePathStyle: boolean;
}

/** SigV4 presigned URLs live at most seven days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const PART_SIZE = 8 * 1024 * 1024;

/**
 * S3 (or MinIO, or any S3-compatible server). Streams go up as multipart uploads of 8 MB parts, two in flight, so a
 * large export needs ~16 MB of buffers whatever its size; a failed or aborted upload is aborted on the server too,
 * which discards its parts (nothing is visible under the key until the upload completes).
 */
export class S3Storage implements Storage {
  readonly driver = 's3' as const;
  readonly client: S3Client;

  constructor(private readonly opts: S3Options) {
    const config: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      ...(opts.endpoint
        ? {
            endpoint: opts.endpoint,
            // S3-compatible servers vary in their support of the newer default (CRC checksums on every request).
            requestChecksumCalculation: 'WHEN_REQUIRED',
            responseChecksumValidation: 'WHEN_REQUIRED',
          }
        : {}),
      ...(opts.accessKeyId && opts.secretAccessKey
        ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } }
        : {}),
    };
    this.client = new S3Client(config);
  }

  get bucket(): string {
    return this.opts.bucket;
  }

  async put(key: string, body: Readable | Uint8Array | string, opts: PutOptions = {}): Promise<StoredObject> {
    assertKey(key);
    if (opts.overwrite === false && (await this.head(key))) throw new ObjectExistsError(key);
    const counter = new ByteCounter(opts.maxBytes);
    const source =
      body instanceof Readable ? body : Readable.from([typeof body === 'string' ? Buffer.from(body) : body]);
    let failure: unknown;
    source.once('error', (err) => counter.destroy(err));
    counter.once('error', (err) => (failure ??= err));
    source.pipe(counter);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.opts.bucket,
        Key: key,
        Body: counter,
        ContentType: opts.contentType ?? contentTypeFor(key),
      },
      partSize: PART_SIZE,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      source.destroy();
      // The SDK's own error hides why the body failed (too large, the producer's error, an abort).
      throw opts.signal?.aborted ? (opts.signal.reason ?? err) : (failure ?? err);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    if (failure) {
      await this.delete(key).catch(() => undefined);
      throw failure;
    }
    return { key, bytes: counter.bytes };
  }

  async get(key: string): Promise<Readable> {
    assertKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      return res.Body as Readable;
    } catch (err) {
      if (err instanceof NoSuchKey || err instanceof NotFound) throw new ObjectNotFoundError(key);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertKey(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      return { bytes: res.ContentLength ?? 0, contentType: res.ContentType };
    } catch (err) {
      if (err instanceof NotFound || err instanceof NoSuchKey) return null;
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: key }));
  }

  async downloadUrl(key: string, opts: DownloadUrlOptions): Promise<string> {
    assertKey(key);
    const command = new GetObjectCommand({
      Bucket: this.opts.bucket,
      Key: key,
      ResponseContentDisposition: contentDisposition(opts.filename),
    });
    const expiresIn = Math.min(MAX_PRESIGN_SECONDS, Math.max(1, Math.floor(opts.expiresInSeconds)));
    return getSignedUrl(this.client, command, { expiresIn });
  }

  close(): void {
    this.client.destroy();
  }
}
