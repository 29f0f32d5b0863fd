import type { Config } from '../../config/env.ts';
import { LocalStorage, signedFileUrl } from './local.ts';
import { S3Storage } from './s3.ts';
import { UrlSigner } from './signing.ts';
import { assertKey, type Storage } from './storage.ts';

/** The configured driver: S3 when STORAGE_DRIVER=s3, else files under STORAGE_LOCAL_DIR. */
export function createStorage(config: Config): Storage {
  const { storage } = config;
  if (storage.driver === 's3') {
    return new S3Storage({
      bucket: storage.s3.bucket!,
      region: storage.s3.region,
      endpoint: storage.s3.endpoint,
      accessKeyId: storage.s3.accessKeyId,
      secretAccessKey: storage.s3.secretAccessKey,
      forcePathStyle: storage.s3.forcePathStyle,
    });
  }
  return new LocalStorage(storage.localDir, new UrlSigner(storage.urlSecret), config.appUrl);
}

export interface UploadTarget {
  url: string;
  expiresAt: Date;
  maxBytes: number;
}

/**
 * A URL that accepts one PUT of at most `maxBytes` to `key`, served by Keel for either driver (so the size limit
 * and the no-overwrite rule hold whatever the store). Whoever holds it may upload until it expires.
 */
export function uploadUrl(
  config: Config,
  key: string,
  opts: { maxBytes: number; expiresInSeconds: number },
): UploadTarget {
  assertKey(key);
  const expires = Math.floor(Date.now() / 1000) + opts.expiresInSeconds;
  const params = { op: 'put' as const, key, expires, max: opts.maxBytes };
  const signature = new UrlSigner(config.storage.urlSecret).sign(params);
  return {
    url: signedFileUrl(config.appUrl, '/uploads/', params, signature),
    expiresAt: new Date(expires * 1000),
    maxBytes: opts.maxBytes,
  };
}
