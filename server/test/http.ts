import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import { z } from 'zod';

/** A raw HTTP response: tests about hostile input need the exact status and body, not a client's reading of it. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body, or `undefined` when it is not JSON. */
  json: unknown;
}

/** Sends exactly these bytes (no client library in between), and reads the whole answer. */
export function sendRaw(
  baseUrl: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(path, baseUrl),
      {
        method,
        headers: {
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    // The server may answer (413) and close before an oversized body is fully written.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const trpcErrorShape = z.object({
  message: z.string(),
  code: z.number(),
  data: z
    .object({
      code: z.string(),
      httpStatus: z.number(),
      appCode: z.string(),
      fieldErrors: z.record(z.string(), z.array(z.string())).optional(),
    })
    .loose(),
});
const envelope = z.object({ error: z.object({ json: trpcErrorShape }) });
export type TrpcErrorBody = z.infer<typeof trpcErrorShape>;

/** The typed tRPC error in a response (superjson envelope, single or first of a batch), or null if it has none. */
export function trpcErrorOf(res: RawResponse): TrpcErrorBody | null {
  const body = Array.isArray(res.json) ? res.json[0] : res.json;
  const parsed = envelope.safeParse(body);
  return parsed.success ? parsed.data.error.json : null;
}

/** Collects JSON log lines (pino) so a test can read what the server logged. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.lines.push({ msg: line });
      }
    }
    done();
  }
}
