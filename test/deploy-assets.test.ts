import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { buildProgram } from '../src/cli/main.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { PROMETHEUS, PROMTOOL, promtool, startPrometheus } from './helpers/prometheus.js';
import { exposedNames, metricNames } from './helpers/promql-names.js';
import { repoRoot } from './helpers/run-cli.js';
import { metricsOf, startServer, waitFor, type RunningServer } from './helpers/serve-fixture.js';

/**
 * deploy/: the Prometheus alert rules and scrape configuration, the Grafana dashboard and the
 * scheduled CI workflow, checked against the real tools and a real running `loupe serve`.
 */

const deploy = (...p: string[]) => path.join(repoRoot, 'deploy', ...p);
const RULES = deploy('prometheus/alerts.yml');

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const rulesOf = async () =>
  (parse(await readFile(RULES, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] }).groups.flatMap(
    (g) => g.rules,
  );
const dashboard = async () =>
  JSON.parse(await readFile(deploy('grafana/loupe-dashboard.json'), 'utf8')) as Dashboard;
/** Grafana's variables as a query would run: any instance, any model, a 5-minute window. */
const substituted = (expr: string) =>
  expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__range', '1h')
    .replaceAll('$instance', '.*')
    .replaceAll('$model', '.*');

describe('deploy assets', () => {
  let dir: string;
  let ws: Workspace;
  let server: RunningServer;
  /** What a running server's /metrics offers, by sample name; `up` is Prometheus's own. */
  let exposed: Set<string>;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loupe-deploy-'));
    await initWorkspace(dir);
    ws = await openWorkspace({ workspace: dir, env: {} });
    server = await startServer(ws, {});
    exposed = exposedNames(await metricsOf(server.url));
    exposed.add('up');
  });
  after(async () => {
    await server?.close();
    await ws?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'promtool accepts the alert rules and the example Prometheus configuration',
    { skip: existsSync(PROMTOOL) ? false : `no ${PROMTOOL}` },
    async () => {
      const rules = await promtool(['check', 'rules', RULES]);
      assert.equal(rules.code, 0, rules.out);
      assert.match(rules.out, new RegExp(`SUCCESS: ${(await rulesOf()).length} rules found`));
      const config = await promtool(['check', 'config', deploy('prometheus/prometheus.yml')]);
      assert.equal(config.code, 0, config.out);
    },
  );

  it('covers what the operators asked for', async () => {
    const alerts = (await rulesOf()).map((r) => r.alert);
    for (const name of [
      'LoupeTargetDown',
      'LoupeNoChampionLoaded',
      'LoupeHighErrorRate',
      'LoupeHighLatencyP99',
      'LoupeModelReloadRefused',
      'LoupePredictionQueueFull',
      'LoupePredictionLogDrops',
      'LoupeDriftDetected',
    ])
      assert.ok(alerts.includes(name), `${name} is a rule`);
    const used = new Set(
      (await dashboard()).panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))),
    );
    for (const name of [
      'loupe_http_requests_total',
      'loupe_http_request_duration_seconds_bucket',
      'loupe_predictions_total',
      'loupe_prediction_confidence_bucket',
      'loupe_batch_size_bucket',
      'loupe_queue_depth',
      'loupe_drift_detected',
      'loupe_model_info',
    ])
      assert.ok(used.has(name), `the dashboard shows ${name}`);
  });

  it('every expression, in the rules and in the dashboard, selects metrics a running loupe serve exposes', async () => {
    // The check itself finds names, and finds an unknown one.
    assert.deepEqual(metricNames('sum by (le) (rate(a_bucket{route=~"x|y"}[5m])) / on(i) b offset 5m'), [
      'a_bucket',
      'b',
    ]);
    assert.ok(
      !exposed.has(metricNames('rate(loupe_http_request_total[5m])')[0]!),
      'a misspelt name is caught',
    );
    const expressions = [
      ...(await rulesOf()).map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
      ...(await dashboard()).panels.flatMap((p) =>
        (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
      ),
    ];
    let names = 0;
    for (const { where, expr } of expressions) {
      const found = metricNames(expr);
      assert.ok(found.length, `${where} selects a metric`);
      for (const name of found) assert.ok(exposed.has(name), `${where}: ${name} is not on /metrics`);
      names += found.length;
    }
    assert.ok(names >= expressions.length);
    // Template variables read labels of exposed metrics too.
    for (const v of (await dashboard()).templating.list.filter((t) => t.type === 'query')) {
      const metric = /label_values\((\w+),/.exec(JSON.stringify(v.query))?.[1];
      assert.ok(metric && exposed.has(metric), `variable ${v.name} reads ${metric}`);
    }
  });

  it(
    'the dashboard is an importable Grafana dashboard whose queries are valid PromQL',
    { skip: existsSync(PROMTOOL) ? false : `no ${PROMTOOL}` },
    async () => {
      const d = await dashboard();
      assert.equal(d.uid, 'loupe-serve');
      assert.ok(d.title && d.schemaVersion >= 30);
      const datasource = d.templating.list.find((t) => t.type === 'datasource');
      assert.equal(datasource?.query, 'prometheus', 'the Prometheus data source is chosen at import');
      const ids = d.panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
      for (const p of d.panels) {
        assert.ok(p.gridPos.x + p.gridPos.w <= 24, `"${p.title}" fits the 24-column grid`);
        if (p.type === 'row') continue;
        assert.equal(p.datasource?.uid, '${datasource}', `"${p.title}" queries the chosen data source`);
        assert.ok(p.targets?.length, `"${p.title}" has queries`);
      }
      // promtool parses PromQL in rule files: the queries, variables filled in, as recording rules.
      const exprs = d.panels.flatMap((p) => (p.targets ?? []).map((t) => substituted(t.expr)));
      const file = path.join(dir, 'dashboard-queries.yml');
      await writeFile(
        file,
        stringify({
          groups: [
            { name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) },
          ],
        }),
      );
      const checked = await promtool(['check', 'rules', file]);
      assert.equal(checked.code, 0, checked.out);
    },
  );

  it(
    'a real Prometheus scrapes a running loupe serve with the rules loaded, and reports them healthy',
    { skip: existsSync(PROMETHEUS) ? false : `no ${PROMETHEUS}` },
    async () => {
      // The example configuration, pointed at this server and made quick.
      const config = parse(await readFile(deploy('prometheus/prometheus.yml'), 'utf8')) as {
        global: Record<string, string>;
        rule_files: string[];
        scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
      };
      config.global = { scrape_interval: '1s', evaluation_interval: '1s' };
      config.scrape_configs[0]!.static_configs = [{ targets: [new URL(server.url).host] }];
      const prometheus = await startPrometheus(stringify(config), {
        'alerts.yml': await readFile(RULES, 'utf8'),
      });
      try {
        const expected = (await rulesOf()).length;
        type Rules = {
          groups: {
            rules: {
              name: string;
              health: string;
              state: string;
              lastError?: string;
              lastEvaluation: string;
            }[];
          }[];
        };
        const rules = await waitFor(
          'every rule to be evaluated against scraped data',
          async () => {
            const up = await prometheus.query('up{job="loupe"}');
            const data = await prometheus.api<Rules>('rules');
            const all = data?.groups.flatMap((g) => g.rules) ?? [];
            const evaluated = all.filter(
              (r) => r.health !== 'unknown' && !r.lastEvaluation.startsWith('0001'),
            );
            // This server has no model at all: once evaluated on its scrape, that rule matches
            // and waits out its `for` (5 minutes). A broken rule would never get there.
            const noChampion = all.find((r) => r.name === 'LoupeNoChampionLoaded');
            const settled = noChampion?.state === 'pending' || all.some((r) => r.health === 'err');
            return up[0]?.value[1] === '1' && evaluated.length === expected && settled ? all : undefined;
          },
          { timeoutMs: 30_000, everyMs: 250 },
        ).catch((e: Error) => assert.fail(`${e.message}\n${prometheus.log()}`));
        for (const r of rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
        const state = Object.fromEntries(rules.map((r) => [r.name, r.state]));
        assert.equal(state.LoupeTargetDown, 'inactive', 'the server is up');
        assert.equal(state.LoupeNoChampionLoaded, 'pending');
        assert.equal(state.LoupeDriftDetected, 'inactive');
      } finally {
        await prometheus.stop();
      }
    },
  );

  it('the CI workflow runs loupe commands with options they have', async () => {
    const workflow = parse(await readFile(deploy('ci/loupe-monitor.yml'), 'utf8')) as {
      on: Record<string, unknown>;
      jobs: Record<string, { 'runs-on': string[]; steps: { run?: string }[] }>;
    };
    assert.ok(workflow.on.schedule, 'it runs on a schedule');
    const job = Object.values(workflow.jobs)[0]!;
    assert.ok(job['runs-on'].includes('self-hosted'));
    const program = buildProgram();
    const globals = program.options.map((o) => o.long);
    const invocations = job.steps
      .flatMap((s) => (s.run ?? '').split('\n'))
      .filter((line) => line.trim().startsWith('$LOUPE '))
      .map((line) => line.trim().split('>')[0]!.trim().split(/\s+/).slice(1));
    assert.deepEqual(
      invocations.map((args) => args.find((a) => program.commands.some((c) => c.name() === a))),
      ['drift', 'retrain'],
    );
    for (const args of invocations) {
      const verb = program.commands.find((c) => args.includes(c.name()))!;
      const known = [...globals, ...verb.options.map((o) => o.long)];
      for (const flag of args.filter((a) => a.startsWith('--')))
        assert.ok(known.includes(flag), `loupe ${verb.name()} has ${flag}`);
    }
  });
});
