import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { LoupeError } from '../../src/errors/loupe-error.js';

/**
 * Debian's PyTorch is installed for the system interpreter only; a pyenv or venv `python3`
 * earlier on PATH would not find torch, so the baselines never run through PATH lookup.
 */
export const PYTHON = process.env.LOUPE_BENCH_PYTHON ?? '/usr/bin/python3';

/** Runs a baseline script that prints one JSON object on its last stdout line, and parses it. */
export async function runPythonBaseline(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Record<string, unknown>> {
  if (!existsSync(PYTHON)) {
    throw new LoupeError(
      'MISSING_DEPENDENCY',
      `${PYTHON} not found; install python3-torch and python3-torchvision (or set LOUPE_BENCH_PYTHON)`,
    );
  }
  const child = spawn(PYTHON, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) {
    const tail = stderr.trim().split('\n').slice(-8).join('\n');
    const missing = /No module named '(torch|torchvision)'/.exec(stderr);
    throw new LoupeError(
      missing ? 'MISSING_DEPENDENCY' : 'NATIVE_ERROR',
      missing
        ? `${PYTHON} lacks ${missing[1]}; install python3-torch and python3-torchvision`
        : `${script} exited with ${code}:\n${tail}`,
    );
  }
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch (e) {
    throw new LoupeError(
      'NATIVE_ERROR',
      `${script} did not print JSON on its last line: ${last.slice(0, 200)}`,
      undefined,
      { cause: e },
    );
  }
}
