import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * scikit-learn / scipy reference values for the evaluation metrics. Debian's own python3 carries
 * scikit-learn 1.2, whose conventions the metrics follow; the python3 on PATH may be another.
 */
const PYTHON = '/usr/bin/python3';

export const referenceAvailable = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import sklearn, scipy, numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export const skipWithoutReference = referenceAvailable
  ? false
  : `needs ${PYTHON} with scikit-learn and scipy`;

function runPython<T>(script: string, input: unknown): T {
  const dir = mkdtempSync(join(tmpdir(), 'loupe-eval-'));
  try {
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(input));
    return JSON.parse(execFileSync(PYTHON, ['-c', script, file], { encoding: 'utf8' })) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CLASSIFICATION = `
import json, sys, warnings
import numpy as np
from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix, f1_score,
    log_loss, precision_recall_curve, precision_recall_fscore_support, roc_auc_score, roc_curve,
    top_k_accuracy_score)
from sklearn.preprocessing import label_binarize
warnings.simplefilter('ignore')
d = json.load(open(sys.argv[1]))
k, y, curve_class, bins = d['k'], np.array(d['labels']), d['curveClass'], d['bins']
P = np.array(d['probs'], dtype=np.float64).reshape(-1, k)
pred = P.argmax(1)
# label_binarize gives a single column for two classes
Y = label_binarize(y, classes=range(k)) if k > 2 else np.eye(k, dtype=int)[y]
p, r, f, s = precision_recall_fscore_support(y, pred, labels=range(k), zero_division=0)
avg = {a: precision_recall_fscore_support(y, pred, average=a, zero_division=0)[:3] for a in ('macro', 'weighted')}
has_pos = [bool(Y[:, c].any()) for c in range(k)]
has_both = [has_pos[c] and not Y[:, c].all() for c in range(k)]
ovr = None
if k > 2 and all(has_both) and np.allclose(P.sum(1), 1):
    ovr = roc_auc_score(y, P, multi_class='ovr', average='macro', labels=range(k))
cp, cr, _ = precision_recall_curve(Y[:, curve_class], P[:, curve_class])
fpr, tpr, _ = roc_curve(Y[:, curve_class], P[:, curve_class])
conf = P.max(1)
b = np.minimum(np.floor(conf * bins).astype(int), bins - 1)
ece = sum(abs((pred == y)[b == i].mean() - conf[b == i].mean()) * (b == i).sum() / len(y) for i in range(bins) if (b == i).any())
print(json.dumps({
  'precision': p.tolist(), 'recall': r.tolist(), 'f1': f.tolist(), 'support': s.tolist(),
  'macro': list(avg['macro']), 'weighted': list(avg['weighted']),
  'f1Macro': f1_score(y, pred, average='macro', zero_division=0),
  'f1Weighted': f1_score(y, pred, average='weighted', zero_division=0),
  'confusion': confusion_matrix(y, pred, labels=range(k)).tolist(),
  'accuracy': accuracy_score(y, pred),
  'ap': [average_precision_score(Y[:, c], P[:, c]) if has_pos[c] else None for c in range(k)],
  'auc': [roc_auc_score(Y[:, c], P[:, c]) if has_both[c] else None for c in range(k)],
  'rocAucOvr': ovr,
  'prCurve': {'precision': cp.tolist(), 'recall': cr.tolist()},
  'rocCurve': {'fpr': fpr.tolist(), 'tpr': tpr.tolist()},
  'topK': {str(t): top_k_accuracy_score(y, P, k=t, labels=range(k)) for t in (1, 3, 5) if t < k and k > 2},
  'logLoss': log_loss(y, P, labels=range(k)),
  'brier': float(np.mean(np.sum((P - np.eye(k)[y]) ** 2, 1))),
  'ece': ece,
}))
`;

export interface ClassificationReference {
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
  macro: [number, number, number];
  weighted: [number, number, number];
  f1Macro: number;
  f1Weighted: number;
  confusion: number[][];
  accuracy: number;
  ap: (number | null)[];
  auc: (number | null)[];
  rocAucOvr: number | null;
  prCurve: { precision: number[]; recall: number[] };
  rocCurve: { fpr: number[]; tpr: number[] };
  topK: Record<string, number>;
  logLoss: number;
  brier: number;
  ece: number;
}

/** scikit-learn's metrics of the same probabilities; `curveClass` picks the class whose curves come back. */
export function sklearnClassification(
  probs: Float32Array | Float64Array,
  labels: Int32Array,
  k: number,
  curveClass: number,
  bins: number,
): ClassificationReference {
  return runPython(CLASSIFICATION, { probs: [...probs], labels: [...labels], k, curveClass, bins });
}

const TEMPERATURE = `
import json, sys
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
d = json.load(open(sys.argv[1]))
z = np.array(d['logits'], dtype=np.float64).reshape(-1, d['k'])
y = np.array(d['labels'])
nll = lambda u: np.mean(logsumexp(z / np.exp(u), axis=1) - z[np.arange(len(y)), y] / np.exp(u))
r = minimize_scalar(nll, bounds=(np.log(0.01), np.log(100)), method='bounded', options={'xatol': 1e-10})
print(json.dumps(float(np.exp(r.x))))
`;

/** The temperature scipy's bounded scalar minimiser finds for the same NLL, over log T. */
export function scipyTemperature(logits: Float32Array | Float64Array, labels: Int32Array, k: number): number {
  return runPython(TEMPERATURE, { logits: [...logits], labels: [...labels], k });
}

const MCNEMAR = `
import json, sys
from scipy.stats import binomtest, chi2
out = []
for b, c in json.load(open(sys.argv[1])):
    if b + c < 25:
        out.append(binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0)
    else:
        out.append(chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1))
print(json.dumps(out))
`;

/** McNemar p-values of discordant counts [b, c]: scipy's exact binomial test or corrected chi-square. */
export function scipyMcnemar(pairs: [number, number][]): number[] {
  return runPython(MCNEMAR, pairs);
}
