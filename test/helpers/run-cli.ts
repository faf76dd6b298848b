import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const loupeBin = path.join(repoRoot, 'bin/loupe.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `loupe` command (bin/loupe.js, as a user would) and never throws on exit codes. */
export function runLoupe(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return promisify(execFile)(process.execPath, [loupeBin, ...args], {
    cwd,
    env: { ...process.env, LOUPE_THREADS: '1', LOUPE_PROFILE: '', ...env },
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: CliResult) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}
