import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

// What a page of the SPA downloads before it can show anything, read from Vite's manifest: the entry (index.html's
// script) with every chunk it imports statically, plus the lazy chunks the page opens at once and their imports.
// Shared by web/src/bundle.test.ts (the budget) and bench/web.bench.ts (the figures).

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The lazy modules each area's first page loads as soon as it renders (paths as the manifest names them). */
export const FIRST_PAGE: Record<'app' | 'ops', string[]> = {
  // The tenant dashboard; its flagged analytics charts load only when the flag is on.
  app: ['src/app/HomePage.tsx'],
  // The console's frame and overview, whose charts draw at once.
  ops: ['src/ops/OpsShell.tsx', 'src/ops/home/OpsHomePage.tsx', 'src/ops/ChartBody.tsx'],
};

interface Chunk {
  file: string;
  src?: string;
  imports?: string[];
  isEntry?: boolean;
  isDynamicEntry?: boolean;
}

/**
 * Builds the SPA into `outDir` (quietly) with the project's Vite configuration, as `vite build` does. Vite takes the
 * app's NODE_ENV from the process when set, and vitest sets it to `test`: without the define, React's development
 * build (twice the size) would be measured.
 */
export async function buildWeb(outDir: string): Promise<void> {
  await build({
    configFile: path.join(repo, 'vite.config.ts'),
    mode: 'production',
    define: { 'process.env.NODE_ENV': JSON.stringify('production') },
    logLevel: 'error',
    build: { outDir, emptyOutDir: true },
  });
}

export interface FirstLoad {
  /** Chunk files, entry first. */
  files: string[];
  /** JavaScript only, gzip level 9 of each file (what a server with compression sends, near enough). */
  gzipBytes: number;
  rawBytes: number;
}

const readManifest = (outDir: string) =>
  JSON.parse(readFileSync(path.join(outDir, '.vite/manifest.json'), 'utf8')) as Record<string, Chunk>;

/** Every chunk of the build: what one bundle would send to everybody. */
export function wholeSpa(outDir: string): FirstLoad {
  return firstLoad(outDir, Object.keys(readManifest(outDir)));
}

export function firstLoad(outDir: string, lazyModules: readonly string[]): FirstLoad {
  const manifest = readManifest(outDir);
  const seen = new Set<string>();
  const visit = (key: string) => {
    if (seen.has(key)) return;
    const chunk = manifest[key];
    if (!chunk) throw new Error(`${key} is not in the Vite manifest (renamed or no longer lazy?)`);
    seen.add(key);
    for (const i of chunk.imports ?? []) visit(i);
  };
  visit('index.html');
  for (const m of lazyModules) visit(m);
  const files = [...seen].map((k) => manifest[k]!.file).filter((f) => f.endsWith('.js'));
  let gzipBytes = 0;
  let rawBytes = 0;
  for (const f of files) {
    const bytes = readFileSync(path.join(outDir, f));
    rawBytes += bytes.length;
    gzipBytes += gzipSync(bytes, { level: 9 }).length;
  }
  return { files, gzipBytes, rawBytes };
}
