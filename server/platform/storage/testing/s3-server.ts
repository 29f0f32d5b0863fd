import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { S3Storage } from '../s3.ts';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  storage: S3Storage;
  close(): Promise<void>;
}

/** A real S3-protocol server (s3rver) on a free port, storing in a temporary directory, with one bucket. */
export async function startS3Server(bucket = 'keel-test'): Promise<TestS3> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'keel-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const storage = new S3Storage({
    bucket,
    region: 'us-east-1',
    endpoint,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
  });
  return {
    endpoint,
    bucket,
    storage,
    async close() {
      storage.close();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
