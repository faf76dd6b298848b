import { chartGrid, lineChartSpec } from '../charts/line-chart.js';
import { renderPng } from '../charts/render.js';
import type { EpochRecord } from './train-run.js';

/** Loss and validation metrics per epoch, as the PNG stored with every run. */
export async function writeCurves(history: readonly EpochRecord[], file: string): Promise<void> {
  const series = (name: string, pick: (h: EpochRecord) => number | undefined) => ({
    name,
    points: history.flatMap((h) => {
      const v = pick(h);
      return v === undefined ? [] : [[h.globalEpoch, v] as [number, number]];
    }),
  });
  const nonEmpty = <T extends { points: unknown[] }>(s: T[]) => s.filter((x) => x.points.length);
  await renderPng(
    chartGrid([
      lineChartSpec({
        title: 'Loss',
        xTitle: 'epoch',
        yTitle: 'cross-entropy',
        series: nonEmpty([
          series('train (augmented)', (h) => h.trainLoss),
          series('val', (h) => h.val?.loss),
        ]),
      }),
      lineChartSpec({
        title: 'Quality',
        xTitle: 'epoch',
        yTitle: 'score',
        series: nonEmpty([
          series('train accuracy', (h) => h.train?.accuracy),
          series('val accuracy', (h) => h.val?.accuracy),
          series('val macro-F1', (h) => h.val?.macroF1),
        ]),
      }),
    ]),
    file,
  );
}
