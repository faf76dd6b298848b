import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  /** Logical cores the OS reports. */
  cores: number;
  /** Cores this process may use (cgroup/affinity aware). */
  availableParallelism: number;
  memoryGiB: number;
  os: string;
  node: string;
  libtorch: string | null;
  onnxruntime: string | null;
  pytorch: string | null;
  torchvision: string | null;
  python: string | null;
  openblasThreads: string | null;
  gitCommit: string | null;
}

function packageVersion(name: string): string | null {
  try {
    const require = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string })
      .version;
  } catch {
    return null;
  }
}

function gitCommit(): string | null {
  try {
    return (
      execFileSync('git', ['rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() || null
    );
  } catch {
    return null;
  }
}

/** What a reader needs to judge a number: the hardware, and every runtime's version on both sides. */
export function machineInfo(libtorch: string | null): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    libtorch,
    onnxruntime: packageVersion('onnxruntime-node'),
    pytorch: null,
    torchvision: null,
    python: null,
    openblasThreads: process.env.OPENBLAS_NUM_THREADS ?? null,
    gitCommit: gitCommit(),
  };
}

/** Copies the versions a Python baseline reported into the machine record. */
export function addPythonVersions(machine: MachineInfo, baseline: Record<string, unknown>): void {
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  machine.pytorch ??= str(baseline.torch_version);
  machine.torchvision ??= str(baseline.torchvision_version);
  machine.python ??= str(baseline.python_version);
}
