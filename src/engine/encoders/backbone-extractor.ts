import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import type { Backbone } from '../backbones/backbone.js';
import { loadBackbone } from '../backbones/registry.js';
import { exportOnnx } from '../onnx/export-onnx.js';
import { OnnxSession } from '../onnx/onnx-session.js';
import { resolveSpec } from '../spec/resolve.js';
import type { ResolvedSpec } from '../spec/resolved.js';
import type { LayerSpecInput } from '../spec/schema.js';
import { extractorId, modelSha256 } from './extractor-id.js';
import type { FeatureExtractor } from './feature-extractor.js';
import { onnxThreads, sessionExtractor } from './onnx-extractor.js';

/**
 * Images per ONNX Runtime call, as many as probe training embeds at once. Of 8, 16, 32 and 64,
 * 64 ran MobileNetV2 fastest on two busy cores (final tap ~10% over 32, mid ~40%), at the cost
 * of a ~650 MB arena and an event loop held for the whole chunk (ONNX Runtime computes on the
 * calling thread): a quarter of a second idle, seconds on a loaded machine.
 */
const CHUNK = 64;

const DEFAULT_TAP = 'final';

/**
 * Part of the id: ONNX Runtime's kernels round differently from libtorch's (features differ
 * around 1e-5), so embeddings cached when built-in backbones ran on libtorch must not be mixed
 * with these.
 */
const RUNTIME = 'onnxruntime';

/** A built-in backbone exported to ONNX up to one of its taps, run on ONNX Runtime. */
export async function openBackboneExtractor(
  name: string,
  o: { tap?: string; cacheDir: string },
): Promise<FeatureExtractor> {
  const backbone = await loadBackbone(name, { cacheDir: o.cacheDir });
  const tapName = o.tap ?? DEFAULT_TAP;
  const tap = Object.hasOwn(backbone.taps, tapName) ? backbone.taps[tapName] : undefined;
  if (!tap) {
    const taps = Object.entries(backbone.taps).map(
      ([t, info]) => `${t} (${info.features}: ${info.description})`,
    );
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `backbone ${name} has no tap "${tapName}"; its taps: ${taps.join('; ')}`,
    );
  }
  const id = extractorId({
    kind: 'builtin',
    name,
    weightsSha256: modelSha256(backbone.spec, backbone.weights),
    tap: tapName,
    settings: { preprocessing: backbone.preprocessing, pool: tap.pool, runtime: RUNTIME },
  });
  const graph = await tapGraph(backbone, tapName, tap.pool, id);
  const session = await OnnxSession.open(graph, { threads: onnxThreads() });
  const { channels, height, width } = backbone.spec.input;
  return sessionExtractor(session, {
    id,
    description: `${name} tap ${tapName} (${tap.description}); ${backbone.info.origin}`,
    preprocessing: backbone.preprocessing,
    sample: [channels, height, width],
    // Pooling, when the tap wants it, is in the graph: the output is already one vector per image.
    output: { name: tapName, pooling: 'none', dim: tap.features },
    chunk: CHUNK,
    modelBytes: async () => graph,
  });
}

/**
 * The ONNX graph of a backbone up to a tap, kept in the backbone's cache entry as `<tap>.onnx`
 * beside `<tap>.onnx.json`, which records the file's SHA-256 and the extractor id it was made
 * for. A file that does not match its record (truncated, damaged, made for other settings) is
 * exported again rather than trusted.
 */
async function tapGraph(backbone: Backbone, tapName: string, pool: boolean, id: string): Promise<Uint8Array> {
  const file = path.join(backbone.cache.dir, `${tapName}.onnx`);
  const recordFile = `${file}.json`;
  const cached = await readCachedGraph(file, recordFile, id);
  if (cached) return cached;

  const spec = specUpToTap(backbone.spec, tapName);
  const weights = new Map([...backbone.weights].filter(([tensor]) => Object.hasOwn(spec.tensors, tensor)));
  const bytes = exportOnnx(spec, weights, { probs: false, taps: [{ tap: tapName, pool }] });
  try {
    await writeFileAtomic(file, bytes);
    // The record goes last, so a graph is only ever read back once it is complete.
    const record: GraphRecord = { extractor: id, sha256: sha256(bytes) };
    await writeFileAtomic(recordFile, Buffer.from(`${JSON.stringify(record)}\n`));
  } catch {
    // Only a saving is lost: a read-only cache (one copied to an offline machine) must still embed.
  }
  return bytes;
}

interface GraphRecord {
  extractor: string;
  sha256: string;
}

async function readCachedGraph(
  file: string,
  recordFile: string,
  id: string,
): Promise<Uint8Array | undefined> {
  try {
    const record = JSON.parse(await readFile(recordFile, 'utf8')) as Partial<GraphRecord>;
    if (record.extractor !== id) return undefined;
    const bytes = await readFile(file);
    return sha256(bytes) === record.sha256 ? bytes : undefined;
  } catch {
    // Missing or unreadable: the export is only a few milliseconds away.
    return undefined;
  }
}

/**
 * The spec cut after the top-level layer that holds the tap. ONNX Runtime runs the whole graph
 * whichever outputs are fetched, so for MobileNetV2's mid tap the blocks after it would cost a
 * quarter of the time for nothing.
 */
function specUpToTap(spec: Backbone['spec'], tap: string): ResolvedSpec {
  const holds = (l: LayerSpecInput): boolean =>
    l.tap === tap ||
    (l.type === 'sequential' && l.layers.some(holds)) ||
    (l.type === 'residual' && [...l.body, ...(l.shortcut ?? [])].some(holds));
  const last = spec.layers.findIndex(holds);
  if (last < 0) throw new LoupeError('INTERNAL', `the spec of backbone ${spec.name} has no tap "${tap}"`);
  return resolveSpec({ ...spec, layers: spec.layers.slice(0, last + 1) });
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
