import sharp from 'sharp';
import type {
  ClassReport,
  EvalReport,
  ItemFinding,
  PrCurve,
  ReliabilityBin,
  RocCurve,
} from '../../src/eval/evaluation.js';

/** A label that must come out of every report as text, never as markup. */
export const HOSTILE_LABEL = '<b>&"x"</b>';

/** A 48x36 PNG as a data URI, a blob on a gradient: a real image for the report's cards to show. */
export async function thumbnailDataUri(colour: string): Promise<string> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="36">
<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#dbeafe"/><stop offset="1" stop-color="#f8fafc"/></linearGradient></defs>
<rect width="48" height="36" fill="url(#g)"/><ellipse cx="24" cy="20" rx="13" ry="10" fill="${colour}"/></svg>`;
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

const ratio = (a: number, b: number) => (b ? a / b : 0);

/**
 * A hand-made confusion matrix with per-class figures computed from it the way the metrics code
 * defines them, so a test can check the report repeats them; the curves and bins are plausible
 * shapes whose areas are computed from their own points.
 */
function metricsFor(classes: string[]): EvalReport['metrics'] {
  const k = classes.length;
  const confusion = classes.map((_, t) =>
    classes.map((_, p) =>
      t === p
        ? 40 + ((t * 7) % 25)
        : Math.abs(t - p) <= 3 && (t * 3 + p * 5) % 7 < 3
          ? 1 + ((t + 2 * p) % 6)
          : 0,
    ),
  );
  const n = confusion.flat().reduce((a, b) => a + b, 0);
  const perClass: ClassReport[] = classes.map((label, c) => {
    const tp = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c]!, 0);
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { label, precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  const mean = (f: (c: ClassReport) => number, w: (c: ClassReport) => number) =>
    ratio(
      perClass.reduce((a, c) => a + f(c) * w(c), 0),
      perClass.reduce((a, c) => a + w(c), 0),
    );
  const averages = (w: (c: ClassReport) => number) => ({
    precision: mean((c) => c.precision, w),
    recall: mean((c) => c.recall, w),
    f1: mean((c) => c.f1, w),
  });
  const pr: PrCurve[] = classes.map((label, c) => {
    const a = 0.15 + 0.5 * (c / Math.max(1, k - 1));
    const points = [{ recall: 0, precision: 1 }];
    for (let i = 1; i <= 20; i++) points.push({ recall: i / 20, precision: 1 - a * (i / 20) ** 2 });
    const ap = points.slice(1).reduce((s, p, i) => s + (p.recall - points[i]!.recall) * p.precision, 0);
    return { label, ap, points };
  });
  const roc: RocCurve[] = classes.map((label, c) => {
    const b = 0.08 + 0.4 * (c / Math.max(1, k - 1));
    const points = Array.from({ length: 21 }, (_, i) => ({ fpr: i / 20, tpr: (i / 20) ** b }));
    return { label, auc: 1 / (b + 1), points };
  });
  const counts = [0, 0, 1, 3, 6, 9, 14, 22, 38, 107];
  const reliability: ReliabilityBin[] = counts.map((count, i) => ({
    lo: i / 10,
    hi: (i + 1) / 10,
    count,
    confidence: count ? i / 10 + 0.06 : NaN,
    accuracy: count ? i / 10 + 0.06 - 0.03 + 0.04 * ((i % 3) - 1) : NaN,
  }));
  const total = counts.reduce((a, b) => a + b, 0);
  const accuracy = ratio(
    classes.reduce((a, _, c) => a + confusion[c]![c]!, 0),
    n,
  );
  return {
    n,
    classes,
    accuracy,
    topK: k > 3 ? { '1': accuracy, '3': 0.985 } : { '1': accuracy },
    macro: averages(() => 1),
    weighted: averages((c) => c.support),
    perClass,
    confusion,
    confusionNormalized: confusion.map((row) => {
      const sum = row.reduce((a, b) => a + b, 0);
      return row.map((v) => ratio(v, sum));
    }),
    pr,
    roc,
    mapMacro: pr.reduce((a, c) => a + c.ap, 0) / k,
    rocAucMacro: roc.reduce((a, c) => a + c.auc, 0) / k,
    ece: reliability.reduce(
      (a, b) => (b.count ? a + (b.count / total) * Math.abs(b.accuracy - b.confidence) : a),
      0,
    ),
    reliability,
    nll: 0.312,
    brier: 0.151,
  };
}

/**
 * A realistic evaluation of `classes` (by default four, one of them HOSTILE_LABEL): calibration,
 * latency, and findings with real PNG thumbnails, one of them an audio segment.
 */
export async function evalReportFixture(
  classes: string[] = ['cat', 'dog', HOSTILE_LABEL, 'bird song'],
): Promise<EvalReport> {
  const [a, b, c] = [classes[0]!, classes[1]!, classes[2]!];
  const mistakes: ItemFinding[] = [
    {
      id: 'item-0042',
      given: a,
      predicted: c,
      confidence: 0.97,
      givenProbability: 0.01,
      source: 'images/cat/IMG_0042.jpg',
      thumbnail: await thumbnailDataUri('#c2410c'),
    },
    {
      id: 'rec-7#3',
      given: c,
      predicted: b,
      confidence: 0.91,
      givenProbability: 0.04,
      source: 'https://example.org/recordings/rec-7.wav?x=1&y=<2>',
      span: [12.5, 15],
      thumbnail: await thumbnailDataUri('#1e3a8a'),
    },
  ];
  return {
    model: 'pets-classifier@3',
    datasetVersion: 'pets@7',
    split: 'test',
    createdAt: '2025-03-14T09:26:53.000Z',
    metrics: metricsFor(classes),
    calibration: {
      temperature: 1.42,
      fittedOn: { split: 'val', n: 480 },
      eceBefore: 0.081,
      nllBefore: 0.398,
    },
    latency: { p50: 7.8, p95: 12.4, mean: 8.3, samples: 200 },
    hardestMistakes: mistakes,
    labelIssues: {
      source: 'out-of-fold predictions',
      items: [
        { ...mistakes[1]!, id: 'rec-9#1', confidence: 0.88, givenProbability: 0.03 },
        // No thumbnail, and one that is not an inline image: neither may reach the page as <img>.
        {
          id: 'item-0100',
          given: b,
          predicted: a,
          confidence: 0.84,
          givenProbability: 0.06,
          source: 'dog/100.png',
        },
        {
          id: 'item-0101',
          given: b,
          predicted: a,
          confidence: 0.8,
          givenProbability: 0.07,
          thumbnail: 'https://example.org/tracker.png',
        },
      ],
    },
  };
}
