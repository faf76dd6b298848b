import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argmaxRows, classificationMetrics, crossEntropy } from '../src/eval/classification-metrics.js';
import { seededRandom } from '../src/train/random.js';
import { balancedEpochSize, balancedOrder } from '../src/train/sampling.js';
import { inverseFrequencyWeights } from '../src/train/modes/training-plan.js';

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) < eps, `${a} ≈ ${b}`);

describe('classification metrics', () => {
  it('match a hand-computed three-class case', () => {
    // true:      0 0 0 1 1 2
    // predicted: 0 0 1 1 2 2
    const m = classificationMetrics([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 2], 3);
    assert.deepEqual(m.confusion, [
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    close(m.accuracy, 4 / 6);
    // class 0: P 2/2, R 2/3, F1 0.8; class 1: P 1/2, R 1/2, F1 0.5; class 2: P 1/2, R 1, F1 2/3
    close(m.perClass[0]!.f1, 0.8);
    close(m.perClass[1]!.f1, 0.5);
    close(m.perClass[2]!.f1, 2 / 3);
    close(m.macroF1, (0.8 + 0.5 + 2 / 3) / 3);
    close(m.weightedF1, (0.8 * 3 + 0.5 * 2 + (2 / 3) * 1) / 6);
  });

  it('leave a class absent from labels and predictions out of macro-F1, and count zero divisions as 0', () => {
    const m = classificationMetrics([0, 0, 1], [0, 1, 1], 4);
    close(m.macroF1, (m.perClass[0]!.f1 + m.perClass[1]!.f1) / 2);
    const never = classificationMetrics([0, 0], [1, 1], 2);
    assert.equal(never.perClass[0]!.precision, 0);
    assert.equal(never.perClass[1]!.recall, 0);
    assert.equal(never.macroF1, 0);
  });

  it('refuse mismatched lengths and out-of-range classes', () => {
    assert.throws(() => classificationMetrics([0], [0, 1], 2), /1 predictions for 2 labels/);
    assert.throws(() => classificationMetrics([2], [0], 2), /out of range/);
  });

  it('compute argmax rows and a stable cross-entropy', () => {
    assert.deepEqual([...argmaxRows(Float32Array.from([1, 3, 2, 9, 0, 0]), 2)], [1, 0]);
    close(crossEntropy(Float32Array.from([0, 0]), [1]), Math.log(2), 1e-7);
    // Large logits would overflow a naive softmax.
    close(crossEntropy(Float32Array.from([1000, 0]), [0]), 0, 1e-6);
  });
});

describe('imbalance handling', () => {
  it('balanced epochs draw every class equally, without repeats while a class lasts', () => {
    const labels = Int32Array.from([...Array(90).fill(0), ...Array(10).fill(1)]);
    const order = balancedOrder(labels, 2, seededRandom(3));
    assert.equal(order.length, balancedEpochSize(labels));
    const perClass = [0, 0];
    for (const i of order) perClass[labels[i]!]!++;
    assert.deepEqual(perClass, [50, 50]);
    const majority = [...order].filter((i) => labels[i] === 0);
    assert.equal(new Set(majority).size, majority.length, 'the large class is not repeated');
  });

  it('class weights are inverse to frequency with mean 1 over present classes', () => {
    const w = inverseFrequencyWeights(Int32Array.from([0, 0, 0, 1]), 3);
    close(w[0]!, 4 / 6, 1e-6);
    close(w[1]!, 2, 1e-6);
    assert.equal(w[2], 0);
  });
});
