import { resolveVersion } from '../../data/versions/version-store.js';
import type { StoredPredictions } from '../../eval/evaluate-classifier.js';
import { evaluateModel } from '../../eval/evaluate-model.js';
import { mcnemar } from '../../eval/metrics/mcnemar.js';
import { pairedBootstrap } from '../../eval/metrics/paired-bootstrap.js';
import type { EvalReport } from '../../eval/evaluation.js';
import { metricsSummary } from '../../eval/report/write-eval-report.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Workspace } from '../../workspace/workspace.js';
import { readModelFile } from '../model-files.js';
import { formatRef } from '../model-ref.js';
import { EVAL_REPORT_FILE, PREDICTIONS_FILE } from '../register-model.js';
import { aliasTarget, getVersion, type ModelVersion } from '../registry-store.js';
import { describeRule, LOWER_IS_BETTER, type GateConfig, type GateRule } from './gate-policy.js';

export type Verdict = 'pass' | 'fail' | 'skipped';

export interface RuleResult {
  rule: string;
  verdict: Verdict;
  /** The candidate's value (for champion rules: candidate − champion, signed so positive is better). */
  value?: number;
  threshold?: number;
  detail: string;
}

export interface GateResult {
  model: string;
  /** The version compared against, when there was one. */
  champion: string | null;
  datasetVersion: string;
  split: string;
  passed: boolean;
  rules: RuleResult[];
}

/** What the gate knows about one model on the gate's items. */
interface Judged {
  report: EvalReport;
  predictions: StoredPredictions;
}

const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as unknown;

/**
 * A version's evaluation on a dataset split: the one stored with it when it was made on those
 * very items, else a fresh evaluation of its verified ONNX file.
 */
async function judge(
  ws: Workspace,
  version: ModelVersion,
  data: string,
  split: string | undefined,
  signal?: AbortSignal,
): Promise<Judged> {
  if (version.files[PREDICTIONS_FILE] && version.files[EVAL_REPORT_FILE]) {
    const predictions = json(await readModelFile(ws.blobs, version, PREDICTIONS_FILE)) as StoredPredictions;
    if (predictions.datasetVersion === data && (split === undefined || predictions.split === split))
      return {
        report: json(await readModelFile(ws.blobs, version, EVAL_REPORT_FILE)) as EvalReport,
        predictions,
      };
  }
  return evaluateModel(ws, await readModelFile(ws.blobs, version), await resolveVersion(ws.db, data), {
    model: version.ref,
    ...(split ? { split } : {}),
    ...(signal ? { signal } : {}),
  });
}

function metricOf(report: EvalReport, name: string): number {
  const top = /^top(\d+)_accuracy$/.exec(name);
  if (top) {
    const value = report.metrics.topK[top[1]!];
    if (value === undefined)
      throw new LoupeError(
        'INVALID_CONFIG',
        `gate: ${name} is not measured for ${report.metrics.classes.length} classes`,
      );
    return value;
  }
  const value = (metricsSummary(report) as unknown as Record<string, number | null>)[name];
  return value ?? NaN;
}

function thresholdRule(rule: Extract<GateRule, { metric: string }>, report: EvalReport): RuleResult {
  const value = metricOf(report, rule.metric);
  const text = describeRule(rule);
  if (Number.isNaN(value)) return { rule: text, verdict: 'fail', detail: `${rule.metric} was not measured` };
  const low = rule.min !== undefined && value < rule.min;
  const high = rule.max !== undefined && value > rule.max;
  return {
    rule: text,
    verdict: low || high ? 'fail' : 'pass',
    value,
    ...(low ? { threshold: rule.min! } : high ? { threshold: rule.max! } : {}),
    detail: `${rule.metric} = ${value.toFixed(4)}`,
  };
}

function perClassRule(rule: Extract<GateRule, { perClass: string }>, report: EvalReport): RuleResult {
  const text = describeRule(rule);
  const classes = report.metrics.perClass;
  const unknown = (rule.classes ?? []).filter((c) => !classes.some((k) => k.label === c));
  if (unknown.length) return { rule: text, verdict: 'fail', detail: `no such class: ${unknown.join(', ')}` };
  const judged = classes.filter((c) => !rule.classes || rule.classes.includes(c.label));
  const failing = judged.filter((c) => c[rule.perClass] < rule.min);
  const worst = judged.reduce((a, c) => (c[rule.perClass] < a[rule.perClass] ? c : a), judged[0]!);
  return {
    rule: text,
    verdict: failing.length ? 'fail' : 'pass',
    value: worst[rule.perClass],
    threshold: rule.min,
    detail: failing.length
      ? `below: ${failing.map((c) => `${c.label} ${c[rule.perClass].toFixed(3)}`).join(', ')}`
      : `lowest: ${worst.label} ${worst[rule.perClass].toFixed(3)}`,
  };
}

/** Per-item correctness of both models over the candidate's items, matched by item id. */
function pairedCorrectness(
  candidate: StoredPredictions,
  champion: StoredPredictions,
): [Uint8Array, Uint8Array] {
  const championAt = new Map(champion.ids.map((id, i) => [id, i]));
  const a: number[] = [];
  const b: number[] = [];
  candidate.ids.forEach((id, i) => {
    const j = championAt.get(id);
    if (j === undefined) return;
    a.push(candidate.predicted[i] === candidate.labels[i] ? 1 : 0);
    b.push(champion.predicted[j] === champion.labels[j] ? 1 : 0);
  });
  if (a.length !== candidate.ids.length)
    throw new LoupeError('INTERNAL', 'the champion was not judged on the same items as the candidate');
  return [Uint8Array.from(a), Uint8Array.from(b)];
}

function championRule(
  rule: Extract<GateRule, { champion: string }>,
  candidate: Judged,
  champion: Judged,
  championRef: string,
): RuleResult {
  const text = describeRule(rule);
  const sign = LOWER_IS_BETTER.has(rule.champion) ? -1 : 1;
  const mine = metricOf(candidate.report, rule.champion);
  const theirs = metricOf(champion.report, rule.champion);
  // Positive is better whichever way the metric runs.
  const gain = sign * (mine - theirs);
  const values = `${rule.champion} ${mine.toFixed(4)} vs ${theirs.toFixed(4)} for ${championRef} (${gain >= 0 ? '+' : ''}${gain.toFixed(4)})`;
  if (Number.isNaN(gain))
    return { rule: text, verdict: 'fail', detail: `${rule.champion} was not measured for both` };
  let p: number | undefined;
  let testNote = '';
  if (rule.test) {
    const [a, b] = pairedCorrectness(candidate.predictions, champion.predictions);
    if (rule.test === 'mcnemar') {
      const r = mcnemar(a, b);
      p = r.pValue;
      testNote = `; McNemar (${r.method}) b=${r.b} c=${r.c} p=${p.toPrecision(3)}`;
    } else {
      const r = pairedBootstrap(a, b, { seed: 0 });
      p = r.pValue;
      testNote = `; paired bootstrap on accuracy Δ=${r.delta.toFixed(4)} 95% CI [${r.ci[0].toFixed(4)}, ${r.ci[1].toFixed(4)}] p=${p.toPrecision(3)}`;
    }
  }
  const significant = p === undefined || p < rule.alpha;
  const pass =
    rule.notWorseBy !== undefined
      ? gain >= -rule.notWorseBy || (rule.test !== undefined && !significant)
      : gain >= rule.betterBy! && significant;
  return {
    rule: text,
    verdict: pass ? 'pass' : 'fail',
    value: gain,
    threshold: rule.notWorseBy !== undefined ? -rule.notWorseBy : rule.betterBy!,
    detail: values + testNote,
  };
}

/**
 * Judges a version against a gate policy: absolute thresholds and per-class minimums on its
 * evaluation, and champion rules on the champion judged over the very same items.
 */
export async function runGate(
  ws: Workspace,
  version: ModelVersion,
  policy: GateConfig,
  o: { data?: string; signal?: AbortSignal } = {},
): Promise<GateResult> {
  const data = o.data ? (await resolveVersion(ws.db, o.data)).id : version.datasetVersion;
  if (!data)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${version.ref} was registered without data to evaluate on; name a dataset version with --data`,
    );
  const candidate = await judge(ws, version, data, policy.split, o.signal);
  const split = candidate.predictions.split;
  const championVersion = await aliasTarget(ws.db, version.model, policy.against);
  const compared = championVersion !== undefined && championVersion !== version.version;
  const champion = compared
    ? await judge(
        ws,
        await getVersion(ws.db, { model: version.model, version: championVersion }),
        data,
        split,
        o.signal,
      )
    : undefined;
  const championRef = compared ? formatRef(version.model, championVersion) : null;

  const rules = policy.rules.map((rule): RuleResult => {
    if ('metric' in rule) return thresholdRule(rule, candidate.report);
    if ('perClass' in rule) return perClassRule(rule, candidate.report);
    // A version is never judged against itself; it already holds the alias.
    if (championVersion === version.version)
      return {
        rule: describeRule(rule),
        verdict: 'skipped',
        detail: `${version.ref} is the ${policy.against} itself`,
      };
    if (!champion)
      return {
        rule: describeRule(rule),
        verdict: policy.whenNoChampion === 'pass' ? 'skipped' : 'fail',
        detail: `no version is ${policy.against} yet (whenNoChampion: ${policy.whenNoChampion})`,
      };
    return championRule(rule, candidate, champion, championRef!);
  });
  return {
    model: version.ref,
    champion: championRef,
    datasetVersion: data,
    split,
    passed: rules.every((r) => r.verdict !== 'fail'),
    rules,
  };
}
