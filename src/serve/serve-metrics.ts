import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Everything `GET /metrics` exposes, in one registry per server so tests and several servers in
 * one process do not share counters. Names follow Prometheus conventions (base units, _total).
 */
export function createServeMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters, which `promtool check metrics` rejects; the per-type
  // nodejs_active_handles / _requests / _resources gauges carry the same numbers.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ])
    registry.removeSingleMetric(name);
  const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    registry,
    requests: new Counter({
      name: 'loupe_http_requests_total',
      help: 'HTTP requests by route, method and status code',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'loupe_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['route'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    modelInfo: new Gauge({
      name: 'loupe_model_info',
      help: 'Model versions being served (1 per loaded version), by how requests reach them',
      labelNames: ['model', 'version', 'selector'] as const,
      registers: [registry],
    }),
    predictions: new Counter({
      name: 'loupe_predictions_total',
      help: 'Predictions by model, version and predicted class',
      labelNames: ['model', 'version', 'class'] as const,
      registers: [registry],
    }),
    confidence: new Histogram({
      name: 'loupe_prediction_confidence',
      help: 'Probability of the top class of each prediction',
      labelNames: ['model'] as const,
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'loupe_batch_size',
      help: 'Images per ONNX Runtime call (micro-batching)',
      labelNames: ['model'] as const,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [registry],
    }),
    inferenceSeconds: new Histogram({
      name: 'loupe_inference_duration_seconds',
      help: 'Time of one batch in its worker, by stage (decode, infer)',
      labelNames: ['model', 'stage'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'loupe_queue_depth',
      help: 'Requests waiting for a batch, by model',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    reloads: new Counter({
      name: 'loupe_model_reloads_total',
      help: 'Model versions loaded in the background, and refused (failed to load or to answer the self-test)',
      labelNames: ['model', 'result'] as const,
      registers: [registry],
    }),
    predictionLog: new Counter({
      name: 'loupe_prediction_log_total',
      help: 'Predictions offered to the prediction log, by outcome (recorded, sampled_out, dropped)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    // Drift checks (src/serve/drift-schedule.ts); test is mmd, classifier, novelty, predictions, confidence
    // or combined (the check's verdict). Absent after a check without enough data.
    driftDetected: new Gauge({
      name: 'loupe_drift_detected',
      help: 'Whether the latest drift check alarmed (1) or not (0), by model and test',
      labelNames: ['model', 'test'] as const,
      registers: [registry],
    }),
    driftStatistic: new Gauge({
      name: 'loupe_drift_statistic',
      help: "The latest drift check's statistic (MMD², AUC, outlier share or chi-square), by model and test",
      labelNames: ['model', 'test'] as const,
      registers: [registry],
    }),
    driftPValue: new Gauge({
      name: 'loupe_drift_p_value',
      help: "The latest drift check's p-value, by model and test",
      labelNames: ['model', 'test'] as const,
      registers: [registry],
    }),
    driftWindowSize: new Gauge({
      name: 'loupe_drift_window_size',
      help: 'Logged predictions the latest drift check looked at',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    driftLastCheck: new Gauge({
      name: 'loupe_drift_last_check_timestamp_seconds',
      help: 'When the latest drift check of a model finished (Unix time)',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    driftChecks: new Counter({
      name: 'loupe_drift_checks_total',
      help: 'Drift checks by outcome (ok, drift, insufficient, failed)',
      labelNames: ['model', 'status'] as const,
      registers: [registry],
    }),
  };
}

export type ServeMetrics = ReturnType<typeof createServeMetrics>;
