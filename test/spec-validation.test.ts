import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { smallCnnSpec, vggSpec } from '../src/engine/spec/families/vgg.js';
import { resolveSpec } from '../src/engine/spec/resolve.js';

const input = { channels: 1, height: 28, width: 28 };

function rejects(spec: unknown, pattern: RegExp): void {
  assert.throws(
    () => resolveSpec(spec),
    (e: unknown) => isLoupeError(e, 'INVALID_SPEC') && pattern.test(e.message),
  );
}

describe('spec validation', () => {
  it('resolves the small CNN with PyTorch-identical parameter count and shapes', () => {
    const r = resolveSpec(smallCnnSpec(input, 10));
    assert.equal(r.parameterCount, 421_642);
    assert.deepEqual(r.outShape, [10]);
    assert.deepEqual(r.taps.block2, [64, 7, 7]);
    assert.deepEqual(r.tensors['fc1.weight'], [128, 3136]);
  });

  it('builds VGG variants from a few fields', () => {
    const r = resolveSpec(
      vggSpec({
        input: { channels: 3, height: 32, width: 32 },
        numClasses: 5,
        filters: [16, 32, 64],
        convsPerBlock: [1, 2, 2],
        classifier: [64, 32],
        batchnorm: true,
        dropout: 0.2,
      }),
    );
    assert.deepEqual(r.taps.block3, [64, 4, 4]);
    assert.ok(r.tensors['block3.bn2.running_var']);
    assert.equal(r.tensors['block1.conv1.bias'], undefined, 'convs before batchnorm carry no bias');
    assert.deepEqual(r.outShape, [5]);
  });

  it('lowers inverted residual blocks into residual or sequential primitives', () => {
    const r = resolveSpec({
      input: { channels: 3, height: 16, width: 16 },
      layers: [
        { type: 'conv2d', name: 'stem', out: 16, kernel: 3, padding: 1 },
        { type: 'inverted_residual', name: 'same', out: 16, expand: 6 },
        { type: 'inverted_residual', name: 'down', out: 24, stride: 2, padding: 'keras' },
        { type: 'global_avgpool' },
        { type: 'linear', out: 3 },
      ],
    });
    assert.equal(r.layers[1]!.type, 'residual');
    assert.equal(r.layers[2]!.type, 'sequential');
    assert.deepEqual(r.layers[2]!.outShape, [24, 8, 8]);
    assert.deepEqual(r.tensors['same.body.expand.weight'], [96, 16, 1, 1]);
    assert.deepEqual(r.tensors['down.depthwise.weight'], [96, 1, 3, 3]);
  });

  it('names the path of an unknown layer type', () =>
    rejects({ input, layers: [{ type: 'conv3d', out: 1 }] }, /layers\[0\]/));
  it('rejects a linear layer on a feature map', () =>
    rejects({ input, layers: [{ type: 'linear', out: 3 }] }, /linear needs a vector.*flatten/));
  it('rejects a kernel larger than the input', () =>
    rejects({ input, layers: [{ type: 'conv2d', out: 4, kernel: 29 }] }, /does not fit the input height 28/));
  it('rejects groups that do not divide the channels', () =>
    rejects(
      { input: { ...input, channels: 3 }, layers: [{ type: 'conv2d', out: 4, kernel: 1, groups: 2 }] },
      /groups 2 must divide the input channels 3/,
    ));
  it('rejects duplicate sibling names', () =>
    rejects(
      {
        input,
        layers: [
          { type: 'relu', name: 'a' },
          { type: 'relu', name: 'a' },
        ],
      },
      /duplicate layer name "a"/,
    ));
  it('rejects a tap used twice', () =>
    rejects(
      {
        input,
        layers: [
          { type: 'relu', tap: 't' },
          { type: 'relu', tap: 't' },
        ],
      },
      /tap "t" is defined twice/,
    ));
  it('rejects a residual whose branches disagree', () =>
    rejects(
      { input, layers: [{ type: 'residual', body: [{ type: 'conv2d', out: 8, kernel: 3, padding: 1 }] }] },
      /residual body gives \[8, 28, 28\] but the shortcut gives \[1, 28, 28\]/,
    ));
  it('rejects non-positive sizes and bad names', () => {
    rejects({ input, layers: [{ type: 'conv2d', out: 0, kernel: 3 }] }, /layers\[0\]\.out/);
    rejects({ input, layers: [{ type: 'relu', name: 'a.b' }] }, /letters, digits and underscores/);
    rejects({ input, layers: [{ type: 'dropout', p: 1 }] }, /layers\[0\]\.p/);
  });
  it('rejects unknown fields instead of ignoring them', () =>
    rejects({ input, layers: [{ type: 'relu', inplace: true }] }, /inplace/));
  it('rejects an empty network and a missing input', () => {
    rejects({ input, layers: [] }, /layers/);
    rejects({ layers: [{ type: 'relu' }] }, /input/);
  });
});

describe('resolved specs round-trip', () => {
  it('re-resolves a stored resolved spec to the same thing', async () => {
    const { toSpecInput } = await import('../src/engine/spec/resolve.js');
    const specs = [
      smallCnnSpec(input, 10),
      vggSpec({
        input: { channels: 3, height: 32, width: 32 },
        numClasses: 5,
        filters: [8, 16],
        convsPerBlock: 2,
        classifier: [32],
        batchnorm: true,
        dropout: 0.1,
        globalPool: true,
      }),
      {
        input: { channels: 3, height: 16, width: 16 },
        layers: [
          {
            type: 'conv2d' as const,
            out: 8,
            kernel: 3,
            stride: 2,
            padding: [0, 1, 0, 1] as [number, number, number, number],
          },
          { type: 'inverted_residual' as const, out: 8, expand: 1 },
          {
            type: 'inverted_residual' as const,
            out: 16,
            stride: 2 as const,
            padding: 'keras' as const,
            tap: 'mid',
          },
          {
            type: 'residual' as const,
            body: [{ type: 'conv2d' as const, out: 16, kernel: 1 }],
            activation: 'relu' as const,
          },
          { type: 'global_avgpool' as const },
          { type: 'linear' as const, out: 2 },
        ],
      },
    ];
    for (const s of specs) {
      const r = resolveSpec(s);
      assert.deepEqual(resolveSpec(JSON.parse(JSON.stringify(toSpecInput(r)))), r);
    }
  });
});
