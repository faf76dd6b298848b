import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { learningRateAt } from '../src/train/lr-schedule.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} ≠ ${b}`);

describe('learning-rate schedules', () => {
  it('constant keeps the base rate', () => {
    for (const step of [0, 5, 99]) close(learningRateAt(0.1, step, 10, 100), 0.1);
  });

  it('step multiplies by gamma every N epochs', () => {
    const s = { schedule: { type: 'step' as const, everyEpochs: 2, gamma: 0.5 } };
    close(learningRateAt(1, 0, 10, 100, s), 1);
    close(learningRateAt(1, 19, 10, 100, s), 1);
    close(learningRateAt(1, 20, 10, 100, s), 0.5);
    close(learningRateAt(1, 45, 10, 100, s), 0.25);
  });

  it('cosine falls from the base rate to minLr by the last step', () => {
    const s = { schedule: { type: 'cosine' as const, minLr: 0.01 } };
    close(learningRateAt(1, 0, 10, 100, s), 1);
    close(learningRateAt(1, 50, 10, 100, s), 0.505);
    close(learningRateAt(1, 100, 10, 100, s), 0.01);
  });

  it('warm-up ramps linearly, then hands over to the schedule', () => {
    const s = { schedule: { type: 'cosine' as const }, warmupSteps: 10 };
    close(learningRateAt(1, 0, 10, 110, s), 0.1);
    close(learningRateAt(1, 4, 10, 110, s), 0.5);
    close(learningRateAt(1, 10, 10, 110, s), 1);
    close(learningRateAt(1, 60, 10, 110, s), 0.5);
  });

  it('rejects nonsense settings', () => {
    const bad = (o: Parameters<typeof learningRateAt>[4]) =>
      assert.throws(
        () => learningRateAt(1, 0, 10, 100, o),
        (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
      );
    bad({ schedule: { type: 'step', everyEpochs: 0, gamma: 0.5 } });
    bad({ warmupSteps: -1 });
  });
});
