import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../../..');

export interface KeelProcess {
  /** Every line the process wrote to stdout and stderr (pino's JSON lines and anything else). */
  lines: string[];
  /** `http://127.0.0.1:<port>` for `serve`; empty for `work`. */
  url: string;
  /** SIGTERM, then waits for the exit (so buffered log lines are written). */
  stop(): Promise<number | null>;
}

/**
 * Runs `server/main.ts <role>` — the real CLI entry — in a child process with exactly `env` (nothing inherited),
 * and keeps what it writes. `serve` resolves once its banner names the port; `work` once it logs "worker started".
 */
export async function startKeel(role: 'serve' | 'work', env: Record<string, string>): Promise<KeelProcess> {
  // node with tsx's loader rather than the tsx CLI: the CLI runs the script in a grandchild that a signal to the
  // CLI does not always reach.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'server/main.ts'), role], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let url = '';
  const ready = new Promise<void>((resolve, reject) => {
    const take = (chunk: Buffer, carry: { rest: string }) => {
      const parts = (carry.rest + chunk.toString()).split('\n');
      carry.rest = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        const m = /Keel is running at (http:\/\/[^\s]+)/.exec(line);
        if (m) {
          url = m[1]!;
          resolve();
        }
        if (role === 'work' && line.includes('"msg":"worker started"')) resolve();
      }
    };
    const out = { rest: '' };
    const err = { rest: '' };
    child.stdout.on('data', (c: Buffer) => take(c, out));
    child.stderr.on('data', (c: Buffer) => take(c, err));
    child.once('exit', (code) => {
      for (const rest of [out.rest, err.rest]) if (rest) lines.push(rest);
      reject(new Error(`keel ${role} exited (${code}) before it was ready:\n${lines.join('\n')}`));
    });
  });
  await ready;
  return {
    lines,
    get url() {
      return url;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
