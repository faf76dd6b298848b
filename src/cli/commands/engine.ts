import type { Command } from 'commander';
import { loadAddon } from '../../engine/native/load-addon.js';

export interface EngineInfo {
  torch: string;
  threads: number;
  onnxruntime: string;
}

export async function engineInfo(): Promise<EngineInfo> {
  const addon = loadAddon();
  const ort = await import('onnxruntime-node');
  return {
    torch: addon.torchVersion(),
    threads: addon.getNumThreads(),
    onnxruntime: ort.env.versions.node ?? 'unknown',
  };
}

export function registerEngine(program: Command): void {
  program
    .command('engine')
    .description('show the training and inference engines and their settings')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const info = await engineInfo();
      if (o.json) console.log(JSON.stringify(info));
      else console.log(`libtorch ${info.torch} (${info.threads} threads), ONNX Runtime ${info.onnxruntime}`);
    });
}
