import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Shared by the deployment tests (docker-compose.yml, deploy/kubernetes/).

export const repoRoot = new URL('../../../', import.meta.url);

export const readRepoFile = (file: string) => readFileSync(new URL(file, repoRoot), 'utf8');

/** The subcommands `keel --help` lists. */
export function cliCommands(): string[] {
  const help = execFileSync('node_modules/.bin/tsx', ['server/main.ts', '--help'], {
    cwd: fileURLToPath(repoRoot),
    encoding: 'utf8',
  });
  return [...help.matchAll(/^ {2}([a-z:]+)\b/gm)].map((m) => m[1]!);
}

/** The `keel` subcommand of a container command (`… server/main.ts serve --migrate` → `serve`). */
export const keelSubcommand = (command: string[] = []) => command[command.indexOf('server/main.ts') + 1];
