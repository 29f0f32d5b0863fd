import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger/logger.ts';
import { LocalStorage } from './local.ts';
import { UrlSigner } from './signing.ts';
import { STRAY_TEMP_FILE_MS, sweepStorage } from './sweep.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-sweep-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the leader’s storage sweep', () => {
  it('removes a stray temporary file past the bound and logs which', async () => {
    const storage = new LocalStorage(dir, new UrlSigner('x'.repeat(40)), 'http://localhost:3000');
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'info',
      pretty: false,
      stream: new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    });
    const stray = 'imports/o/i/upload.csv.00112233aabb.partial';
    await mkdir(path.join(dir, 'imports/o/i'), { recursive: true });
    await writeFile(path.join(dir, stray), 'cut off');
    const old = new Date(Date.now() - STRAY_TEMP_FILE_MS - 60_000);
    await utimes(path.join(dir, stray), old, old);

    expect(await sweepStorage({ storage, logger })).toEqual([stray]);
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'stray temporary files removed', count: 1, removed: [stray] }),
    ]);
    // Nothing left to do: nothing logged.
    expect(await sweepStorage({ storage, logger })).toEqual([]);
    expect(lines).toHaveLength(1);
  });
});
