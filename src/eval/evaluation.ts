/**
 * The shapes an evaluation produces: metrics computed from predicted probabilities and true
 * labels (metrics/), and the report built around them (report/). Kept in one place so the
 * metric code, the HTML/PNG report, the gate and the registry agree on one vocabulary.
 */

export interface ClassReport {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** True items of this class. */
  support: number;
}

export interface Averages {
  precision: number;
  recall: number;
  f1: number;
}

/** One class against the rest: a curve and its area. */
export interface PrCurve {
  label: string;
  /** Average precision, as scikit-learn's average_precision_score (step-wise, no interpolation). */
  ap: number;
  /** Points in order of decreasing threshold, from recall 0 to recall 1. */
  points: { recall: number; precision: number }[];
}

export interface RocCurve {
  label: string;
  /** NaN when the class has no positives or no negatives in the data. */
  auc: number;
  points: { fpr: number; tpr: number }[];
}

export interface ReliabilityBin {
  /** Confidence range [lo, hi). The last bin includes 1. */
  lo: number;
  hi: number;
  count: number;
  /** Mean top-1 probability of the items in the bin (NaN when empty). */
  confidence: number;
  /** Fraction of the bin's items whose top-1 prediction is right (NaN when empty). */
  accuracy: number;
}

export interface ClassificationReport {
  /** Items evaluated. */
  n: number;
  classes: string[];
  accuracy: number;
  /** Top-k accuracy keyed by k ("1", "3", "5"), for each k below the number of classes. */
  topK: Record<string, number>;
  /** Unweighted mean over the classes present in labels or predictions (scikit-learn's default). */
  macro: Averages;
  /** Mean weighted by support. */
  weighted: Averages;
  perClass: ClassReport[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  /** Each row divided by its sum (a row of zeros for a class with no items). */
  confusionNormalized: number[][];
  pr: PrCurve[];
  roc: RocCurve[];
  /** Mean average precision over classes with at least one positive. */
  mapMacro: number;
  /** One-vs-rest ROC-AUC averaged over classes where it is defined (NaN if none). */
  rocAucMacro: number;
  /** Expected calibration error of the top-1 probability over equal-width bins. */
  ece: number;
  reliability: ReliabilityBin[];
  /** Mean negative log-likelihood of the true class. */
  nll: number;
  /** Multi-class Brier score: mean over items of the squared error sum over classes. */
  brier: number;
}

/** An item the evaluated model got wrong with high confidence, or whose label looks wrong. */
export interface ItemFinding {
  /** The manifest item id. */
  id: string;
  given: string;
  predicted: string;
  /** Probability of the predicted class. */
  confidence: number;
  /** Probability the model gives the item's own label. */
  givenProbability: number;
  /** Where the item came from (file name or URL), for a person to find it. */
  source?: string;
  /** For audio segments: their span in the recording, seconds. */
  span?: [start: number, end: number];
  /** A small PNG (data URI) of the image or spectrogram, for reports. */
  thumbnail?: string;
}

export interface LatencyReport {
  /** Batch-1 end-to-end milliseconds per item: decode, preprocess and inference. */
  p50: number;
  p95: number;
  mean: number;
  samples: number;
}

export interface CalibrationReport {
  /** Softmax temperature fitted on validation logits (1 = unchanged). */
  temperature: number;
  /** Items of the split it was fitted on. */
  fittedOn: { split: string; n: number };
  /** The evaluated split's ECE and NLL before temperature scaling; the report's own figures are after. */
  eceBefore: number;
  nllBefore: number;
}

export interface EvalReport {
  /** What was evaluated: a registry reference (name@version) or a run id. */
  model: string;
  datasetVersion: string;
  split: string;
  createdAt: string;
  metrics: ClassificationReport;
  calibration?: CalibrationReport;
  latency?: LatencyReport;
  /** The most confident wrong predictions, most confident first. */
  hardestMistakes: ItemFinding[];
  /**
   * Likely label errors by confident learning on out-of-sample probabilities, most likely first,
   * and where the probabilities came from (the evaluated split, or out-of-fold predictions).
   */
  labelIssues: { source: string; items: ItemFinding[] };
}
