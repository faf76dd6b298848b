import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { readModelFile, MODEL_FILE } from '../../registry/model-files.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { getVersion } from '../../registry/registry-store.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import { withWorkspace } from '../workspace-options.js';

export function registerExport(program: Command): void {
  program
    .command('export')
    .argument('<model>', 'name@version, name:alias or name (the champion)')
    .description(
      'Write a version as one self-contained ONNX file: fused network, calibrated probs, embedding, labels and preprocessing in its metadata',
    )
    .option('--format <format>', 'onnx', 'onnx')
    .option('--out <file>', 'where to write it (default: ./<name>-<version>.onnx)')
    .addHelpText(
      'after',
      `
Example:
  loupe export fashion@3 --out fashion.onnx
The file's outputs are logits, probs (calibrated) and embedding; its metadata_props hold
"classes" (JSON list), "inputs" (preprocessing), "loupe.temperature" and "loupe.lineage".`,
    )
    .action(async (text: string, flags: { format: string; out?: string }, command: Command) => {
      if (flags.format !== 'onnx')
        throw new LoupeError('INVALID_ARGUMENT', `--format: only onnx is supported, got "${flags.format}"`);
      await withWorkspace(command, async (ws) => {
        const version = await getVersion(ws.db, parseModelRef(text));
        const bytes = await readModelFile(ws.blobs, version, MODEL_FILE);
        const out = path.resolve(flags.out ?? `${version.model}-${version.version}.onnx`);
        try {
          await mkdir(path.dirname(out), { recursive: true });
          await writeFileAtomic(out, bytes);
        } catch (e) {
          throw fsError(e, out);
        }
        console.log(
          `${version.ref} → ${out} (${(bytes.length / 1024 / 1024).toFixed(1)} MiB, sha256 ${version.files[MODEL_FILE]!.sha256})`,
        );
      });
    });
}
