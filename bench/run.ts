import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// `npm run bench -- <name>` runs bench/<name>.bench.ts; with no name it lists them. Each benchmark module
// exports `run(): Promise<void>` and prints its BENCH lines.
const dir = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  process.stdout.write(`usage: npm run bench -- <${available.join('|')}>\n`);
  process.exit(name ? 1 : 0);
}
const mod = (await import(pathToFileURL(path.join(dir, `${name}.bench.ts`)).href)) as {
  run: () => Promise<void>;
};
await mod.run();
process.exit(0);
