import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', pretty: false, stream }), lines };
}

const RESET = 'http://localhost:3000/reset-password?token=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6';
const SIGNED =
  'https://bucket.s3.test/exports/a.csv?X-Amz-Credential=AKIAEXAMPLE%2F20260101&X-Amz-Signature=0f1e2d3c4b5a';

describe('logger', () => {
  it('censors credential fields and request and response headers', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        token: 'keel_live_secret',
        sessionId: 'abc',
        signature: 'sig',
        req: {
          method: 'GET',
          url: '/files/x?signature=sig',
          headers: { authorization: 'Bearer x', cookie: 'k=v' },
        },
        res: { headers: { 'set-cookie': 'keel_session=z' } },
        upstream: { password: 'p', token: 't' },
      },
      'line',
    );
    const text = JSON.stringify(lines[0]);
    for (const leaked of [
      'keel_live_secret',
      '"abc"',
      'sig"',
      'Bearer',
      'k=v',
      'keel_session=z',
      '"p"',
      '"t"',
    ])
      expect(text).not.toContain(leaked);
    // A logged request says its method and path, never its query string.
    expect(lines[0]!.req).toEqual({ method: 'GET', url: '/files/x' });
  });

  it('removes links, tokens and signatures from the errors it logs (message, stack and properties)', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error(`fetch ${SIGNED} failed after sending ${RESET}`), {
      url: RESET,
      token: 'keel_AbCdEfGhIjKlMnOpQrStUvWxYz012345',
    });
    logger.error({ err }, 'failed');
    const text = JSON.stringify(lines[0]);
    expect(text).toContain('failed after sending');
    for (const leaked of ['Zm9vYmFy', '0f1e2d3c4b5a', 'AKIAEXAMPLE', 'keel_AbCd'])
      expect(text).not.toContain(leaked);
  });
});
