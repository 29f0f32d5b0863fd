import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hit, prepareApiBench, startServerChild } from './api-harness.ts';
import { summarize, type Profile } from './cpu-profile.ts';

// Where Keel's CPU goes per request (issue 20): the bench's Keel server runs under `--cpu-prof` while autocannon
// saturates it with one call (BENCH_PROFILE_CALL: org_current, doc_get or doc_list; default doc_get) for
// BENCH_PROFILE_S seconds (default 10, after 3 s of warm-up); the profile's samples are then grouped by where their
// frame's code lives (MikroORM, Kysely, pg, superjson, tRPC, zod, Fastify, Keel's own server/ and shared/, GC) and
// printed as CPU µs per request, with the heaviest functions (bench/cpu-profile.ts). BENCH_PROFILE_SERVER=stock
// profiles the stock-tRPC server instead; the profile file is kept when BENCH_PROFILE_KEEP names a directory.

export async function run(): Promise<void> {
  const call = process.env.BENCH_PROFILE_CALL ?? 'doc_get';
  const seconds = Number(process.env.BENCH_PROFILE_S ?? 10);
  const mode = process.env.BENCH_PROFILE_SERVER === 'stock' ? 'stock' : 'keel';
  const bench = await prepareApiBench();
  const dir = process.env.BENCH_PROFILE_KEEP ?? mkdtempSync(path.join(tmpdir(), 'keel-prof-'));
  try {
    const s = await startServerChild(mode, {
      ...bench.env,
      NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}`,
    });
    const input = (json: unknown) => `?input=${encodeURIComponent(JSON.stringify({ json }))}`;
    const paths: Record<string, string> = {
      org_current: '/trpc/organization.current',
      doc_get: `/trpc/documents.get${input({ id: bench.documentId })}`,
      doc_list: `/trpc/documents.list${input({ limit: 25 })}`,
    };
    const url = `http://127.0.0.1:${s.port}${paths[call] ?? paths.doc_get!}`;
    const headers = { authorization: `Bearer ${bench.secret}` };
    const warm = await hit(url, headers, { duration: 3 });
    const r = await hit(url, headers, { duration: seconds });
    const exited = new Promise((resolve) => s.child.once('exit', resolve));
    // api-server.ts exits on SIGTERM, which is what lets Node write the profile.
    s.child.kill();
    await exited;
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no profile written in ${dir}`);
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Profile;
    // The warm-up's requests are in the profile too.
    const total = warm.requests.total + r.requests.total;
    process.stdout.write(
      `# ${mode} ${call}: ${r.requests.average} req/s for ${seconds} s (+3 s warm-up), profile ${path.join(dir, file)}\n`,
    );
    process.stdout.write(summarize(profile, total) + '\n');
  } finally {
    if (!process.env.BENCH_PROFILE_KEEP) rmSync(dir, { recursive: true, force: true });
    await bench.cleanup();
  }
}
