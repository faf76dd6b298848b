import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { candidatesFromAudio } from '../src/data/ingest/from-audio.js';
import { ingest } from '../src/data/ingest/ingest.js';
import type { ManifestItem } from '../src/data/versions/manifest.js';
import { listVersions, readVersionItems } from '../src/data/versions/version-store.js';
import { loadBackbone } from '../src/engine/backbones/registry.js';
import { openFeatureExtractor } from '../src/engine/encoders/feature-extractor.js';
import { Model } from '../src/engine/model.js';
import { composeEncoderHead, finalizeClassifier } from '../src/engine/onnx/compose-classifier.js';
import { exportOnnx } from '../src/engine/onnx/export-onnx.js';
import { GraphBuilder } from '../src/engine/onnx/graph-builder.js';
import { OnnxSession } from '../src/engine/onnx/onnx-session.js';
import { readSafetensors } from '../src/engine/safetensors.js';
import { resolveSpec, toSpecInput } from '../src/engine/spec/resolve.js';
import { WEIGHTS_SPEC_KEY } from '../src/engine/weights-file.js';
import { isLoupeError, type ErrorCode } from '../src/errors/loupe-error.js';
import { preprocessImages } from '../src/features/image/preprocess.js';
import { Classifier, CLASSIFIER_METADATA, type ClassifierOutputs } from '../src/inference/classifier.js';
import { itemInputs } from '../src/inference/item-inputs.js';
import { labelIndices } from '../src/inference/label-indices.js';
import { sampleShape, type ModelInputs } from '../src/inference/model-inputs.js';
import { predictItems } from '../src/inference/predict-items.js';
import { readModelFile } from '../src/registry/model-files.js';
import { packageRun, type PackagedModel } from '../src/registry/package-run.js';
import { registerOnnx, type OnnxImport } from '../src/registry/register-model.js';
import { getVersion } from '../src/registry/registry-store.js';
import { runArtifacts } from '../src/track/run-store.js';
import { trainConfigSchema } from '../src/train/config/train-config.js';
import { seededRandom } from '../src/train/random.js';
import { trainModel } from '../src/train/train-run.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { CHROMIUM, openBrowserOnnx, type BrowserOnnx } from './helpers/browser-onnx.js';
import {
  decodeModel,
  encodeModel,
  graphOf,
  type OnnxGraph,
  libtorchFromWeights,
  linear,
  maxAbsDiff,
  meanNll,
  modelBytes,
  outputDims,
  PENULTIMATE,
  softmaxRows,
  tinyHead,
} from './helpers/model-package-fixture.js';
import { repoRoot, runLoupe } from './helpers/run-cli.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

/**
 * A trained run becomes one self-contained ONNX classifier (logits, calibrated probs, the
 * embedding its last linear layer reads, and the metadata that says how to feed it). Everything
 * here is real: runs are trained, libtorch computes the reference, ONNX Runtime runs the package
 * in Node and in Chromium.
 */

const TOLERANCE = 1e-4;
const ADDON = path.join(repoRoot, 'native/build/Release/loupe_native.node');
const skipNative = existsSync(ADDON) ? false : 'the native addon is not built';
const skipBrowser = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}`;

/** Wider val and test splits than the default tenths, so calibration has a dozen items to fit on. */
const SPLITS = 'data:\n  split: { val: 0.3, test: 0.2 }';

const diffs: string[] = [];
function assertClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tolerance = TOLERANCE) {
  const d = maxAbsDiff(got, want);
  diffs.push(`${what} ${d.toExponential(1)}`);
  assert.ok(d <= tolerance, `${what}: max abs diff ${d} > ${tolerance}`);
}
after(() => {
  if (diffs.length) console.log(`max abs diffs: ${diffs.join('; ')}`);
});

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isLoupeError(e, code), `expected LoupeError ${code}, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

async function artifactFile(ws: Workspace, runId: string, name: string): Promise<string> {
  const artifact = (await runArtifacts(ws.db, runId)).find((a) => a.name === name);
  assert.ok(artifact, `run ${runId} has ${name}`);
  return path.join(ws.root, artifact.path);
}

async function withClassifier<T>(bytes: Uint8Array, fn: (c: Classifier) => Promise<T>): Promise<T> {
  const classifier = await Classifier.open(bytes);
  try {
    return await fn(classifier);
  } finally {
    await classifier.dispose();
  }
}

async function withModel<T>(model: Promise<Model>, fn: (m: Model) => Promise<T>): Promise<T> {
  const m = await model;
  try {
    return await fn(m);
  } finally {
    await m.dispose();
  }
}

/** The package against libtorch's logits and penultimate features on the same input. */
async function assertMatchesLibtorch(
  what: string,
  pkg: PackagedModel,
  out: ClassifierOutputs,
  reference: { logits: Float32Array; embedding: Float32Array; weight: Float32Array; bias: Float32Array },
): Promise<void> {
  const k = pkg.classes.length;
  assertClose(`${what} logits`, out.logits, reference.logits);
  assertClose(`${what} probs`, out.probs, softmaxRows(reference.logits, k, pkg.temperature));
  assert.ok(out.embedding, `${what}: the package outputs the embedding`);
  assertClose(`${what} embedding`, out.embedding, reference.embedding);
  // The embedding is what the final layer reads: through its weights it gives the logits.
  const n = out.logits.length / k;
  assertClose(
    `${what} embedding·Wᵀ+b`,
    linear(out.embedding, n, reference.weight, reference.bias),
    out.logits,
  );
}

const inputNameOf = (bytes: Uint8Array) => graphOf(decodeModel(bytes)).input[0]!.name!;

describe('packaging trained runs', { skip: skipNative }, () => {
  let ws: Workspace;
  let dir: string;
  let items: ManifestItem[];
  let scratchRun: string;
  let scratch: PackagedModel;
  let probeRun: string;
  let probe: PackagedModel;

  before(async () => {
    ({ ws, dir } = await trainingWorkspace({ classes: 4, perClass: 10, yaml: SPLITS }));
    items = await readVersionItems(ws, (await listVersions(ws.db, 'fm'))[0]!);
    const started = performance.now();
    scratchRun = (
      await trainModel(ws, {
        config: trainConfigSchema.parse({
          mode: 'scratch',
          epochs: 15,
          batchSize: 8,
          optimizer: { lr: 0.03 },
          earlyStopping: { patience: 0 },
          scratch: { filters: [8, 16], convsPerBlock: 1, classifier: [16], dropout: 0.2 },
        }),
      })
    ).runId;
    scratch = await packageRun(ws, scratchRun);
    const scratchS = (performance.now() - started) / 1000;
    probeRun = (
      await trainModel(ws, {
        config: trainConfigSchema.parse({
          mode: 'probe',
          epochs: 20,
          probe: { backbone: 'mobilenet_v2', tap: 'final' },
        }),
      })
    ).runId;
    probe = await packageRun(ws, probeRun);
    console.log(
      `scratch train+package ${scratchS.toFixed(1)} s, probe ${((performance.now() - started) / 1000 - scratchS).toFixed(1)} s`,
    );
  });
  after(async () => {
    await ws?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a scratch run: the package computes what libtorch computes from the run weights', async () => {
    const weightsFile = await artifactFile(ws, scratchRun, 'model.safetensors');
    assert.ok(
      Buffer.from(scratch.extras['weights.safetensors']!).equals(await readFile(weightsFile)),
      'the package keeps the run weights',
    );
    const sample = items;
    await withClassifier(scratch.onnx, async (classifier) => {
      assert.deepEqual(classifier.inputs, scratch.inputs);
      assert.equal(scratch.inputs.kind, 'image');
      const x = await itemInputs(sample, classifier.inputs, ws.blobs);
      const direct = await preprocessImages(
        sample.map((i) => ws.blobs.pathOf(i.blob)),
        (scratch.inputs as Extract<ModelInputs, { kind: 'image' }>).preprocessing,
      );
      assert.deepEqual(direct.shape, [sample.length, 1, 28, 28]);
      assert.ok(
        Buffer.from(direct.x.buffer).equals(Buffer.from(x.buffer)),
        'itemInputs preprocesses as recorded',
      );
      const out = await classifier.run(x, sample.length);
      await withModel(libtorchFromWeights(weightsFile), async (model) => {
        const w = await model.getWeights();
        await assertMatchesLibtorch('scratch', scratch, out, {
          logits: (await model.forward(x, sample.length, 'logits')).data,
          embedding: (await model.forward(x, sample.length, { tap: PENULTIMATE })).data,
          weight: w.get('classifier.weight')!.data,
          bias: w.get('classifier.bias')!.data,
        });
      });
    });
  });

  it('a scratch run: classes, inputs, temperature and lineage travel in the file; probs are calibrated on val', async () => {
    const session = await OnnxSession.open(scratch.onnx);
    try {
      assert.deepEqual(session.outputNames, ['logits', 'probs', 'embedding']);
      const m = session.metadata;
      assert.deepEqual(JSON.parse(m[CLASSIFIER_METADATA.classes]!), ['Ankle_boot', 'Bag', 'Coat', 'Dress']);
      assert.deepEqual(JSON.parse(m[CLASSIFIER_METADATA.inputs]!), scratch.inputs);
      assert.equal(Number(m[CLASSIFIER_METADATA.temperature]), scratch.temperature);
      const lineage = JSON.parse(m[CLASSIFIER_METADATA.lineage]!) as Record<string, unknown>;
      assert.deepEqual(lineage, scratch.lineage);
      assert.equal(lineage.run, scratchRun);
      assert.equal(lineage.mode, 'scratch');
      assert.equal(lineage.datasetVersion, (await listVersions(ws.db, 'fm'))[0]!.id);
      assert.ok('gitCommit' in lineage && 'gitDirty' in lineage);
    } finally {
      await session.dispose();
    }
    assert.deepEqual(outputDims(scratch.onnx), {
      logits: ['batch', 4],
      probs: ['batch', 4],
      embedding: ['batch', 16],
    });
    const runMetadata = JSON.parse(Buffer.from(scratch.extras['run-metadata.json']!).toString()) as {
      classes: string[];
    };
    assert.deepEqual(runMetadata.classes, scratch.classes);

    const val = items.filter((i) => i.split === 'val');
    assert.deepEqual(scratch.calibratedOn, { split: 'val', n: val.length });
    assert.equal(val.length, 12);
    await withClassifier(scratch.onnx, async (classifier) => {
      assert.equal(classifier.temperature, scratch.temperature);
      const out = await predictItems(classifier, val, ws.blobs);
      for (let row = 0; row < out.n; row++) {
        const sum = out.probs.subarray(row * 4, row * 4 + 4).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${row} of probs sums to ${sum}`);
      }
      const labels = labelIndices(val, classifier.classes);
      const t = scratch.temperature;
      const [fitted, raw] = [meanNll(out.logits, labels, 4, t), meanNll(out.logits, labels, 4, 1)];
      console.log(
        `scratch temperature ${t.toFixed(4)}: val NLL ${raw.toFixed(4)} at T=1, ${fitted.toFixed(4)} at T`,
      );
      assert.ok(t > 0 && Math.abs(t - 1) > 1e-3, `temperature ${t} was fitted, not left at 1`);
      assert.ok(fitted < raw, `val NLL falls from ${raw} at T=1 to ${fitted}`);
      // A minimum, not merely better: nudging T either way does no better (unless clamped at a bound).
      if (t > 0.01 && t < 100)
        for (const nudged of [t * 1.05, t / 1.05])
          assert.ok(fitted <= meanNll(out.logits, labels, 4, nudged) + 1e-9, `T=${t} minimises val NLL`);
    });
  });

  it('a probe run: encoder and head fuse into one graph that matches libtorch backbone then head', async () => {
    assert.equal(probe.inputs.kind, 'image');
    const backbone = await loadBackbone('mobilenet_v2');
    assert.deepEqual(
      (probe.inputs as Extract<ModelInputs, { kind: 'image' }>).preprocessing,
      backbone.preprocessing,
    );
    assert.equal(probe.lineage.mode, 'probe');
    assert.equal(probe.lineage.backbone, 'mobilenet_v2');
    const sample = items.filter((i) => i.split === 'test').slice(0, 6);
    await withClassifier(probe.onnx, async (classifier) => {
      // The head was trained on embeddings; the package takes the images the encoder takes.
      assert.deepEqual(classifier.inputs, probe.inputs);
      assert.deepEqual(JSON.parse(classifier.metadata[CLASSIFIER_METADATA.lineage]!), probe.lineage);
      const x = await itemInputs(sample, classifier.inputs, ws.blobs);
      const out = await classifier.run(x, sample.length);
      const n = sample.length;
      const features = await withModel(Model.create(backbone.spec), async (encoder) => {
        await encoder.setWeights(backbone.weights);
        return encoder.forward(x, n, { tap: 'final', pool: backbone.taps.final!.pool });
      });
      assert.deepEqual(features.shape, [n, 1280]);
      await withModel(
        libtorchFromWeights(await artifactFile(ws, probeRun, 'model.safetensors')),
        async (head) => {
          const w = await head.getWeights();
          await assertMatchesLibtorch('probe', probe, out, {
            logits: (await head.forward(features.data, n, 'logits')).data,
            embedding: (await head.forward(features.data, n, { tap: PENULTIMATE })).data,
            weight: w.get('classifier.weight')!.data,
            bias: w.get('classifier.bias')!.data,
          });
        },
      );
      // A linear head reads the encoder's pooled features themselves.
      assertClose('probe embedding vs backbone features', out.embedding!, features.data);
    });
    assert.deepEqual(outputDims(probe.onnx), {
      logits: ['batch', 4],
      probs: ['batch', 4],
      embedding: ['batch', 1280],
    });
  });

  describe('in Chromium (onnxruntime-web)', { skip: skipBrowser }, () => {
    let browser: BrowserOnnx;
    before(async () => {
      browser = await openBrowserOnnx();
    });
    after(async () => {
      await browser?.close();
    });

    for (const which of ['scratch', 'probe'] as const)
      it(`runs the packaged ${which} classifier as onnxruntime-node does`, async () => {
        const pkg = which === 'scratch' ? scratch : probe;
        assert.ok(pkg.onnx.length < 20e6, `${which} package is ${(pkg.onnx.length / 1e6).toFixed(1)} MB`);
        const sample = items.filter((i) => i.split === 'test').slice(0, which === 'scratch' ? 4 : 2);
        await withClassifier(pkg.onnx, async (classifier) => {
          const x = await itemInputs(sample, classifier.inputs, ws.blobs);
          const node = await classifier.run(x, sample.length);
          const dims = [sample.length, ...sampleShape(classifier.inputs)];
          const web = await browser.run(pkg.onnx, { [inputNameOf(pkg.onnx)]: { data: x, dims } });
          assert.deepEqual(web.consoleErrors, []);
          assert.deepEqual(Object.keys(web.outputs).sort(), ['embedding', 'logits', 'probs']);
          for (const name of ['logits', 'probs', 'embedding'] as const)
            assertClose(`${which} web ${name}`, web.outputs[name]!.data, node[name]!);
          assert.deepEqual(web.outputs.probs!.dims, [sample.length, 4]);
        });
      });
  });

  describe('registering an ONNX classifier from elsewhere', () => {
    let elsewhere: string;
    /** The scratch network exported by hand: no Loupe metadata, input renamed, outputs chosen. */
    let probsOnly: Uint8Array;
    let logitsAsOutput: Uint8Array;
    let weight: Float32Array;
    let bias: Float32Array;

    before(async () => {
      elsewhere = await mkdtemp(path.join(tmpdir(), 'loupe-elsewhere-'));
      const { tensors, metadata = {} } = await readSafetensors(
        await artifactFile(ws, scratchRun, 'model.safetensors'),
      );
      const spec = resolveSpec(toSpecInput(JSON.parse(metadata[WEIGHTS_SPEC_KEY]!)));
      weight = tensors.get('classifier.weight')!.data;
      bias = tensors.get('classifier.bias')!.data;
      const stripped = (probs: boolean, edit: (g: OnnxGraph) => void) => {
        const m = decodeModel(exportOnnx(spec, tensors, { probs, taps: [] }));
        m.metadataProps = [];
        m.producerName = 'elsewhere';
        edit(graphOf(m));
        return encodeModel(m);
      };
      // Ends in its softmax: the only output is probabilities, named like the output Loupe adds.
      probsOnly = stripped(true, (g) => {
        g.output = g.output.filter((o) => o.name === 'probs');
      });
      // Logits under another name.
      logitsAsOutput = stripped(false, (g) => {
        for (const n of g.node) n.output = (n.output ?? []).map((o) => (o === 'logits' ? 'output' : o));
        for (const o of g.output) if (o.name === 'logits') o.name = 'output';
      });
      assert.deepEqual(Object.keys(outputDims(probsOnly)), ['probs']);
      assert.deepEqual(Object.keys(outputDims(logitsAsOutput)), ['output']);
    });
    after(async () => {
      if (elsewhere) await rm(elsewhere, { recursive: true, force: true });
    });

    const file = async (name: string, bytes: Uint8Array | string) => {
      const f = path.join(elsewhere, name);
      await writeFile(f, bytes);
      return f;
    };
    const register = async (name: string, bytes: Uint8Array, o: Partial<OnnxImport> = {}) =>
      registerOnnx(ws, await file(`${name}.onnx`, bytes), {
        name,
        labels: scratch.classes,
        data: 'fm',
        preprocessing: (scratch.inputs as Extract<ModelInputs, { kind: 'image' }>).preprocessing,
        ...o,
      });

    /** The registered package and the original model on the same val inputs. */
    async function compare(pkgBytes: Uint8Array, original: Uint8Array, output: string) {
      const val = items.filter((i) => i.split === 'val');
      return withClassifier(pkgBytes, async (classifier) => {
        const x = await itemInputs(val, classifier.inputs, ws.blobs);
        const out = await classifier.run(x, val.length);
        const session = await OnnxSession.open(original);
        try {
          const scores = (await session.run(x, val.length, { outputs: [output] })).get(output)!.data;
          return { classifier, out, scores, n: val.length };
        } finally {
          await session.dispose();
        }
      });
    }

    it('a model ending in a softmax output named "probs" (--scores probs)', async () => {
      const registered = await register('ext-probs', probsOnly, { scores: 'probs' });
      const v = registered.version;
      assert.equal(v.source, 'onnx');
      assert.equal(v.datasetVersion, (await listVersions(ws.db, 'fm'))[0]!.id);
      assert.deepEqual(v.classes, scratch.classes);
      assert.equal(v.lineage.scores, 'probs');
      assert.match(String(v.lineage.sha256), /^[0-9a-f]{64}$/);
      // log p differs from the logits by a per-row constant, which softmax(·/T) ignores: the
      // temperature fitted on val is the one the run's own package got.
      assert.ok(
        Math.abs(v.temperature - scratch.temperature) <= 1e-3 * scratch.temperature,
        `temperature ${v.temperature} ≈ ${scratch.temperature}`,
      );
      assert.ok(registered.evaluation, 'evaluated');
      const metrics = registered.evaluation.report.metrics;
      assert.equal(metrics.n, items.filter((i) => i.split === 'test').length);
      for (const key of ['accuracy', 'macro_f1', 'nll', 'ece'])
        assert.ok(Number.isFinite(v.metrics[key]), `version metric ${key} = ${v.metrics[key]}`);
      assert.ok(registered.reportDir && existsSync(path.join(registered.reportDir, 'report.html')));

      const bytes = await readModelFile(ws.blobs, v);
      assert.deepEqual(Object.keys(outputDims(bytes)), ['logits', 'probs']);
      const { classifier, out, scores, n } = await compare(bytes, probsOnly, 'probs');
      assert.equal(classifier.hasEmbedding, false);
      assert.equal(classifier.temperature, v.temperature);
      assertClose(
        'external probs: logits = log p',
        out.logits,
        Array.from(scores, (p) => Math.log(Math.max(p, 1e-12))),
      );
      assertClose(
        'external probs: probs = softmax(log p / T)',
        out.probs,
        softmaxRows(out.logits, 4, v.temperature),
      );
      assert.equal(out.probs.length, n * 4);
    });

    it('a model whose only output, "output", holds logits', async () => {
      const registered = await register('ext-logits', logitsAsOutput);
      const v = registered.version;
      assert.ok(Math.abs(v.temperature - scratch.temperature) <= 1e-4 * scratch.temperature);
      assert.ok(Number.isFinite(v.metrics.accuracy));
      const bytes = await readModelFile(ws.blobs, v);
      assert.deepEqual(outputDims(bytes), {
        logits: ['batch', 4],
        probs: ['batch', 4],
        embedding: ['batch', 16],
      });
      const { classifier, out, scores, n } = await compare(bytes, logitsAsOutput, 'output');
      assert.equal(classifier.hasEmbedding, true);
      assertClose('external logits: logits', out.logits, scores);
      assertClose('external logits: probs', out.probs, softmaxRows(scores, 4, v.temperature));
      assertClose('external logits: embedding·Wᵀ+b', linear(out.embedding!, n, weight, bias), scores);
    });

    it('a model whose input takes exactly one image is calibrated and evaluated one image at a time', async () => {
      const m = decodeModel(logitsAsOutput);
      graphOf(m).input[0]!.type!.tensorType!.shape!.dim![0] = { dimValue: 1 };
      const single = encodeModel(m);
      const registered = await register('ext-batch1', single);
      const v = registered.version;
      assert.ok(Math.abs(v.temperature - scratch.temperature) <= 1e-4 * scratch.temperature);
      const { classifier, out, scores } = await compare(
        await readModelFile(ws.blobs, v),
        logitsAsOutput,
        'output',
      );
      assert.equal(classifier.fixedBatch, 1);
      assertClose('batch-1 model: logits over many inputs', out.logits, scores);
      assert.equal(registered.evaluation!.report.metrics.n, items.filter((i) => i.split === 'test').length);
    });

    it('refuses bad labels, files that are not ONNX and channels-last inputs with clear errors', async () => {
      const labels = scratch.classes;
      await rejectsWith(
        register('bad', logitsAsOutput, { labels: labels.slice(0, 3) }),
        'INVALID_ARGUMENT',
        /\[1, 4\].*3 labels/,
      );
      await rejectsWith(
        register('bad', logitsAsOutput, { labels: [] }),
        'INVALID_ARGUMENT',
        /non-empty list of distinct/,
      );
      await rejectsWith(
        register('bad', logitsAsOutput, { labels: [labels[0]!, labels[0]!, labels[1]!, labels[2]!] }),
        'INVALID_ARGUMENT',
        /distinct/,
      );
      await rejectsWith(
        register('bad', Buffer.from('this is a labels file, not a model\n')),
        'CORRUPT_FILE',
        /is not an ONNX model/,
      );
      for (const dims of [
        ['batch', 16, 16, 3],
        ['batch', 'height', 'width', 3],
      ] as (number | string)[][]) {
        await rejectsWith(
          registerOnnx(ws, await file('nhwc.onnx', nhwcClassifier(dims)), { name: 'bad', labels }),
          'INVALID_ARGUMENT',
          /must take \[batch, channels, height, width\].*channels-last/,
        );
      }
    });

    it('through the CLI: loupe models register --onnx --labels --scores probs', async () => {
      const onnxFile = await file('cli.onnx', probsOnly);
      const labelsFile = await file('labels.txt', `${scratch.classes.join('\n')}\n`);
      const r = await runLoupe(dir, [
        'models',
        'register',
        '--onnx',
        onnxFile,
        '--labels',
        labelsFile,
        '--name',
        'ext',
        '--data',
        'fm',
        '--scores',
        'probs',
      ]);
      assert.equal(r.code, 0, `loupe models register failed: ${r.stderr}`);
      assert.match(r.stdout, /ext@1/);
      const v = await getVersion(ws.db, { model: 'ext', version: 1 });
      assert.equal(v.source, 'onnx');
      assert.deepEqual(v.classes, scratch.classes);
      // No metadata and no preprocessor_config.json: ImageNet statistics at the declared 28×28, in grey.
      assert.deepEqual(
        v.inputs.kind === 'image' && [v.inputs.preprocessing.width, v.inputs.preprocessing.channelOrder],
        [28, 'gray'],
      );
      assert.ok(Number.isFinite(v.metrics.accuracy));
      await withClassifier(await readModelFile(ws.blobs, v), async (c) => {
        assert.deepEqual(c.classes, scratch.classes);
        assert.equal(c.temperature, v.temperature);
      });

      const wrong = await runLoupe(dir, ['models', 'register', '--onnx', onnxFile, '--name', 'ext2']);
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /--labels/);
    });
  });
});

/** A classifier taking NHWC images: transposed inside, averaged, one linear layer to 4 classes. */
function nhwcClassifier(dims: (number | string)[]): Uint8Array {
  const g = new GraphBuilder();
  const input = g.input('input', dims);
  const nchw = g.node('Transpose', [input], 'nchw', { perm: [0, 3, 1, 2] });
  const pooled = g.node('GlobalAveragePool', [nchw], 'pooled');
  const flat = g.node('Flatten', [pooled], 'flat', { axis: 1 });
  const r = seededRandom(5);
  const w = g.floatInitializer(
    'w',
    [4, 3],
    Float32Array.from({ length: 12 }, () => r() - 0.5),
  );
  g.node('Gemm', [flat, w], 'scores', { transB: 1 });
  g.output('scores', ['batch', 4]);
  return modelBytes(g.build('nhwc'));
}

describe('packaging an audio run', { skip: skipNative }, () => {
  let ws: Workspace;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loupe-audio-package-'));
    await initWorkspace(dir, { name: 'audio-package' });
    ws = await openWorkspace({ workspace: dir, env: { LOUPE__DATA__SPLIT__GROUPBY: 'none' } });
    await ingest(ws, await candidatesFromAudio(path.join(repoRoot, 'samples/audio'), ws.blobs), {
      dataset: 'bursts',
      source: 'audio samples/audio',
    });
  });
  after(async () => {
    await ws?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the package fed itemInputs computes what libtorch computes on the same log-mel images', async () => {
    const { runId } = await trainModel(ws, {
      config: trainConfigSchema.parse({
        mode: 'audio',
        epochs: 3,
        batchSize: 8,
        optimizer: { lr: 0.01 },
        earlyStopping: { patience: 0 },
        audio: { seconds: 0.5, filters: [4, 8], classifier: [8] },
        augment: {},
      }),
    });
    const pkg = await packageRun(ws, runId);
    assert.equal(pkg.inputs.kind, 'audio');
    assert.equal(pkg.lineage.mode, 'audio');
    assert.deepEqual(pkg.classes, ['chirp', 'noise', 'tone']);
    const items = await readVersionItems(ws, (await listVersions(ws.db, 'bursts'))[0]!);
    await withClassifier(pkg.onnx, async (classifier) => {
      assert.deepEqual(classifier.inputs, pkg.inputs);
      assert.equal(classifier.temperature, pkg.temperature);
      const x = await itemInputs(items, classifier.inputs, ws.blobs);
      const shape = sampleShape(classifier.inputs);
      // One channel of mel bands × frames: 0.5 s at 16 kHz is 51 frames at the default hop.
      assert.equal(shape[0], 1);
      assert.equal(shape[2], 51);
      assert.equal(x.length, items.length * shape[0] * shape[1] * shape[2]);
      const out = await classifier.run(x, items.length);
      await withModel(
        libtorchFromWeights(await artifactFile(ws, runId, 'model.safetensors')),
        async (model) => {
          assert.deepEqual(model.inputShape, shape);
          const w = await model.getWeights();
          await assertMatchesLibtorch('audio', pkg, out, {
            logits: (await model.forward(x, items.length, 'logits')).data,
            embedding: (await model.forward(x, items.length, { tap: PENULTIMATE })).data,
            weight: w.get('classifier.weight')!.data,
            bias: w.get('classifier.bias')!.data,
          });
        },
      );
    });
  });
});

describe('composeEncoderHead', () => {
  const SIZE = 4;
  const TOKENS = SIZE * SIZE;
  const x = (() => {
    const r = seededRandom(9);
    return Float32Array.from({ length: 3 * 3 * TOKENS }, () => r() * 4 - 2);
  })();
  const n = 3;

  async function run(bytes: Uint8Array): Promise<Record<string, Float32Array>> {
    const session = await OnnxSession.open(bytes);
    try {
      return Object.fromEntries([...(await session.run(x, n))].map(([k, t]) => [k, t.data]));
    } finally {
      await session.dispose();
    }
  }

  /** Encoder features [n, 3] → the head's logits, calibrated probs and the embedding they came from. */
  function assertClassifies(
    what: string,
    out: Record<string, Float32Array>,
    features: Float32Array,
    head: ReturnType<typeof tinyHead>,
    temperature: number,
  ) {
    assert.deepEqual(Object.keys(out), ['logits', 'probs', 'embedding']);
    const logits = linear(features, n, head.weight, head.bias);
    assertClose(`${what} embedding`, out.embedding!, features, 1e-5);
    assertClose(`${what} logits`, out.logits!, logits, 1e-5);
    assertClose(`${what} probs`, out.probs!, softmaxRows(logits, 2, temperature), 1e-5);
  }

  it('composes an encoder whose outputs are named "logits" and "probs", pooling its map over space', async () => {
    // No initializers at all: the encoder only rectifies its input.
    const g = new GraphBuilder();
    const input = g.input('pixel_values', ['batch', 3, SIZE, SIZE]);
    g.node('Relu', [input], 'logits');
    g.node('Softmax', ['logits'], 'probs', { axis: 1 });
    g.output('logits', ['batch', 3, SIZE, SIZE]);
    g.output('probs', ['batch', 3, SIZE, SIZE]);
    const encoder = modelBytes(g.build('reserved-names'));
    const head = tinyHead(3, 2, 1);
    const composed = composeEncoderHead(encoder, head.bytes, { output: 'logits', pooling: 'spatial' });
    const fused = finalizeClassifier(composed, { temperature: 2, metadata: { classes: '["a","b"]' } });
    const features = new Float32Array(n * 3);
    for (let i = 0; i < n * 3; i++) {
      let sum = 0;
      for (let p = 0; p < TOKENS; p++) sum += Math.max(0, x[i * TOKENS + p]!);
      features[i] = sum / TOKENS;
    }
    assertClassifies('reserved-name encoder', await run(fused), features, head, 2);
    const session = await OnnxSession.open(fused);
    assert.equal(session.inputName, 'pixel_values');
    assert.deepEqual(session.metadata, { classes: '["a","b"]' });
    await session.dispose();
  });

  /** [batch, 3, 4, 4] → tokens [batch, 16, 3]: each pixel a token, plus a learned position. */
  function tokenEncoder(opset: number) {
    const g = new GraphBuilder();
    const input = g.input('input', ['batch', 3, SIZE, SIZE]);
    const shape = g.int64Initializer('shape', [0, 3, TOKENS]);
    const flat = g.node('Reshape', [input, shape], 'flat');
    const tokens = g.node('Transpose', [flat], 'tokens_t', { perm: [0, 2, 1] });
    const r = seededRandom(4);
    const position = Float32Array.from({ length: TOKENS * 3 }, () => r() - 0.5);
    const pos = g.floatInitializer('position', [TOKENS, 3], position);
    g.node('Add', [tokens, pos], 'last_hidden_state');
    g.output('last_hidden_state', ['batch', TOKENS, 3]);
    const bytes = modelBytes(g.build('tokens'), { opset, irVersion: opset >= 18 ? 8 : 7 });
    // The reference: each feature's mean over the tokens.
    const features = new Float32Array(n * 3);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let t = 0; t < TOKENS; t++) sum += x[(i * 3 + c) * TOKENS + t]! + position[t * 3 + c]!;
        features[i * 3 + c] = sum / TOKENS;
      }
    return { bytes, features };
  }

  for (const opset of [14, 18])
    it(`pools a tokens output by its mean over tokens (opset ${opset}: axes as ${opset >= 18 ? 'an input' : 'an attribute'})`, async () => {
      const encoder = tokenEncoder(opset);
      const head = tinyHead(3, 2, 2);
      const composed = composeEncoderHead(encoder.bytes, head.bytes, {
        output: 'last_hidden_state',
        pooling: 'tokens',
      });
      const model = decodeModel(composed);
      assert.deepEqual(
        model.opsetImport.map((o) => Number(o.version)),
        [opset],
      );
      const reduce = graphOf(model).node.find((node) => node.opType === 'ReduceMean')!;
      assert.equal(reduce.input?.length, opset >= 18 ? 2 : 1);
      const fused = finalizeClassifier(composed, { temperature: 0.5, metadata: {} });
      assertClassifies(`tokens opset ${opset}`, await run(fused), encoder.features, head, 0.5);
    });

  it('fuses what an ONNX extractor embeds: extractor.graph() pooled in the graph equals extractor.embed', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'loupe-compose-'));
    try {
      const encoder = tokenEncoder(17);
      const file = path.join(folder, 'encoder.onnx');
      await writeFile(file, encoder.bytes);
      const extractor = await openFeatureExtractor(file);
      try {
        const graph = await extractor.graph();
        assert.deepEqual([graph.output, graph.pooling], ['last_hidden_state', 'tokens']);
        const head = tinyHead(extractor.dim, 2, 3);
        const fused = finalizeClassifier(composeEncoderHead(graph.bytes, head.bytes, graph), {
          temperature: 1,
          metadata: {},
        });
        const embedded = await extractor.embed(x, n);
        assertClose('extractor features', embedded, encoder.features, 1e-5);
        assertClassifies('extractor graph', await run(fused), embedded, head, 1);
      } finally {
        await extractor.dispose();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuses an output the encoder does not have and opsets before 11', async () => {
    const head = tinyHead(3, 2, 1);
    assert.throws(
      () =>
        composeEncoderHead(tokenEncoder(14).bytes, head.bytes, { output: 'pooler_output', pooling: 'none' }),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT') && /no output "pooler_output"/.test(e.message),
    );
    assert.throws(
      () =>
        composeEncoderHead(tokenEncoder(10).bytes, head.bytes, {
          output: 'last_hidden_state',
          pooling: 'tokens',
        }),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT') && /opset 10/.test(e.message),
    );
    assert.throws(
      () => composeEncoderHead(Buffer.from('not a model'), head.bytes, { output: 'x', pooling: 'none' }),
      (e: unknown) => isLoupeError(e, 'CORRUPT_FILE') && /the encoder is not an ONNX model/.test(e.message),
    );
  });
});
