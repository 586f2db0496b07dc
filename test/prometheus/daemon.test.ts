// Prometheus as a real client of a running daemon on the Dokku simulator: `promtool check metrics` on its
// exposition with instances in several phases, the dashboard's metric names against that exposition, and
// a real Prometheus server on loopback (prometheus/scrape.yml and the rules, as shipped except for the
// daemon's address, the rule paths and one-second intervals) that scrapes the daemon, evaluates every
// dashboard query, and sees OtmInstancesFailed go pending, then firing, when an instance's deploy fails.
// Only that alert's `for:` is shortened, in the test's own copy of alerts.yml.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Daemon } from '../../src/engine/daemon.js';
import { createLogger } from '../../src/engine/logger.js';
import { startHttp } from '../../src/http/server.js';
import type { HttpHandle } from '../../src/http/server.js';
import { freePort } from '../dokku-sim/containers.js';
import { setFaults } from '../dokku-sim/client.js';
import { Lab, settle, inSync } from '../e2e/harness.js';
import { parsePrometheusText } from '../http/prom-text.js';
import { waitFor } from '../support/services.js';
import { PROMETHEUS_DIR, rulesOf, runTool, substitute } from './tools.js';

const ALERT = 'OtmInstancesFailed';
const SHORT_FOR = '3s';

interface Dashboard {
  panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
  templating: { list: Array<{ name: string; type: string; query?: string | { query: string } }> };
}

interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
async function dashboardQueries(): Promise<string[]> {
  const dashboard = JSON.parse(await readFile(join(PROMETHEUS_DIR, 'dashboard.json'), 'utf8')) as Dashboard;
  const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const variables = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query!.query));
  return [...targets, ...variables];
}

/** Series names a PromQL expression reads (`otm_*` and recorded `level:otm_*:op` names). */
function seriesNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:[a-z_]+:)?otm_[a-z0-9_]+(?::[a-z0-9_]+)?/g) ?? [])];
}

/** The dashboard's Grafana variables replaced the way Grafana would for "All" and a short range. */
function asPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*');
}

describe('Prometheus against a running daemon', { timeout: 300_000 }, () => {
  let lab: Lab;
  let daemon: Daemon;
  let http: HttpHandle;
  let dir: string;
  let prometheus: ChildProcess | undefined;
  let prometheusLog = '';
  let api: string;
  const names: string[] = [];

  async function query<T>(path: string): Promise<T> {
    const reply = await fetch(`${api}${path}`);
    const body = (await reply.json()) as { status: string; data: T; error?: string };
    assert.equal(body.status, 'success', `${path}: ${body.error ?? ''}`);
    return body.data;
  }

  /** An instant query's samples. */
  async function instant(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    return (await query<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result;
  }

  async function exposition(): Promise<string> {
    return (await fetch(`${http.url}/metrics`)).text();
  }

  before(async () => {
    lab = await Lab.create({ tag: 'prom' });
    names.push(lab.app(1), lab.app(2), lab.app(3));
    await lab.declare(names[0]!);
    await lab.declare(names[1]!, { state: 'stopped' });
    daemon = await lab.startDaemon();
    await settle(daemon, names.slice(0, 2));
    http = await startHttp(daemon, { ...lab.config, http: { ...lab.config.http, listen: '127.0.0.1:0' } }, createLogger({ level: 'warn' }));

    dir = await mkdtemp(join(tmpdir(), 'otm-prom-'));
    let alerts = await readFile(join(PROMETHEUS_DIR, 'alerts.yml'), 'utf8');
    const failed = (await rulesOf('alerts.yml')).find((r) => r.alert === ALERT);
    assert.ok(failed?.for, `alerts.yml has no ${ALERT} with a for: duration`);
    alerts = substitute('prometheus/alerts.yml', alerts, new RegExp(`(- alert: ${ALERT}\\n[^]*?for: )${failed.for}`), `$1${SHORT_FOR}`);
    await writeFile(join(dir, 'alerts.yml'), alerts);
    await writeFile(join(dir, 'recording.yml'), await readFile(join(PROMETHEUS_DIR, 'recording.yml'), 'utf8'));
    const target = new URL(http.url).host;
    let config = await readFile(join(PROMETHEUS_DIR, 'scrape.yml'), 'utf8');
    config = substitute('prometheus/scrape.yml', config, 'scrape_interval: 15s', 'scrape_interval: 1s');
    config = substitute('prometheus/scrape.yml', config, 'evaluation_interval: 15s', 'evaluation_interval: 1s');
    config = substitute('prometheus/scrape.yml', config, '- otree-manager/recording.yml', `- ${join(dir, 'recording.yml')}`);
    config = substitute('prometheus/scrape.yml', config, '- otree-manager/alerts.yml', `- ${join(dir, 'alerts.yml')}`);
    config = substitute('prometheus/scrape.yml', config, "targets: ['127.0.0.1:9280']", `targets: ['${target}']`);
    await writeFile(join(dir, 'prometheus.yml'), config);
    const check = await runTool('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
    assert.equal(check.code, 0, check.stdout + check.stderr);

    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const spawned = prometheus;
    const keep = (d: Buffer) => { prometheusLog = (prometheusLog + d.toString()).slice(-4000); };
    spawned.stdout!.on('data', keep);
    spawned.stderr!.on('data', keep);
    const exited = new Promise<never>((_, reject) => {
      spawned.once('error', (err) => reject(new Error(`prometheus could not start (${err.message}): install the Debian package prometheus`)));
      spawned.once('exit', (code) => reject(new Error(`prometheus exited (${code}):\n${prometheusLog}`)));
    });
    exited.catch(() => undefined);
    await Promise.race([exited, waitFor('Prometheus to be ready', async () => ((await fetch(`${api}/-/ready`)).ok ? true : undefined), 60_000, 200)]);
  });

  after(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      const gone = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await gone;
    }
    await http?.close();
    await daemon?.stop(2_000);
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('scrapes the daemon: the target is up and the otm_ series are stored', async () => {
    const target = await waitFor('the otree-manager target to be up', async () => {
      const { activeTargets } = await query<{ activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> }>('/api/v1/targets');
      return activeTargets.find((t) => t.labels.job === 'otree-manager' && t.health === 'up');
    }, 60_000, 200).catch((err: Error) => { throw new Error(`${err.message}\n${prometheusLog}`); });
    assert.equal(target.labels.instance, new URL(http.url).host);
    const running = await waitFor('otm_instances to be stored', async () => {
      const result = await instant('otm_instances');
      return result.length > 0 ? result : undefined;
    }, 60_000, 200);
    const byPhase = Object.fromEntries(running.map((r) => [r.metric.phase, r.value[1]]));
    assert.equal(byPhase.Running, '1');
    assert.equal(byPhase.Stopped, '1');
    assert.equal(byPhase.Failed, '0');
    assert.deepEqual(running.map((r) => r.metric.job).filter((j) => j !== 'otree-manager'), []);
    const names = await query<string[]>('/api/v1/label/__name__/values');
    for (const name of ['otm_reconcile_total', 'otm_leader', 'otm_dokku_commands_total', 'otm_last_full_resync_timestamp_seconds', 'otm_build_info']) {
      assert.ok(names.includes(name), `${name} is not stored`);
    }
  });

  it('loads every rule and finds each alert healthy, and the Failed alert inactive while nothing failed', async () => {
    const alerts = await rulesOf('alerts.yml');
    const records = await rulesOf('recording.yml');
    const rules = await waitFor('every rule to be evaluated after the first scrape', async () => {
      const { groups } = await query<{ groups: Array<{ rules: Array<{ name: string; health: string; state?: string; lastError?: string; lastEvaluation: string }> }> }>('/api/v1/rules');
      const all = groups.flatMap((g) => g.rules);
      const scraped = await instant('otm_leader');
      return scraped.length > 0 && all.length === alerts.length + records.length && all.every((r) => r.health === 'ok') ? all : undefined;
    }, 60_000, 200);
    assert.deepEqual(rules.map((r) => r.name).sort(), [...alerts.map((r) => r.alert!), ...records.map((r) => r.record!)].sort());
    assert.equal(rules.find((r) => r.name === ALERT)?.state, 'inactive');
  });

  it('evaluates every dashboard query without an error; instances by phase counts the leader\'s instances', async () => {
    for (const expr of await dashboardQueries()) {
      if (expr.startsWith('label_values(')) continue;
      await instant(asPromql(expr));
    }
    const byPhase = (await dashboardQueries()).find((e) => e.startsWith('sum by (phase) (otm_instances'));
    assert.ok(byPhase, 'the dashboard has no instances-by-phase query');
    const phases = Object.fromEntries((await instant(asPromql(byPhase))).map((r) => [r.metric.phase, r.value[1]]));
    assert.equal(phases.Running, '1');
    assert.equal(phases.Stopped, '1');
  });

  it(`fires ${ALERT} once an instance's deploy fails: pending first, then firing, with its labels and annotations`, async () => {
    const failing = names[2]!;
    // The deploy lock held by a build that never ends: every deploy of this app fails.
    await setFaults(lab.sim.root, { lockedApps: [failing] });
    await lab.declare(failing);
    await waitFor(`${failing} to be Failed`, async () => ((await daemon.status.get(failing))?.phase === 'Failed' ? true : undefined), 120_000, 200);

    const seen = new Set<string>();
    const fired = await waitFor(`${ALERT} to fire`, async () => {
      const { alerts } = await query<{ alerts: PromAlert[] }>('/api/v1/alerts');
      const mine = alerts.filter((a) => a.labels.alertname === ALERT);
      for (const a of mine) seen.add(a.state);
      return mine.find((a) => a.state === 'firing');
    }, 60_000, 100).catch((err: Error) => { throw new Error(`${err.message} (states seen: ${[...seen].join(', ') || 'none'})`); });
    assert.ok(seen.has('pending'), `${ALERT} went firing without being seen pending (states seen: ${[...seen].join(', ')})`);
    const instance = new URL(http.url).host;
    assert.deepEqual(fired.labels, { alertname: ALERT, severity: 'warning', job: 'otree-manager', instance, phase: 'Failed' });
    assert.deepEqual(fired.annotations, {
      summary: 'oTree instances are Failed',
      description: `1 instance(s) managed by the daemon at ${instance} have been in phase Failed for 10 minutes.`,
      runbook_url: 'docs/operations.md#otminstancesfailed',
    });
    assert.ok(inSync(await daemon.status.get(names[0]!)), 'the healthy instance is untouched');
  });

  it('promtool check metrics finds nothing to complain about with instances Running, Stopped and Failed', async () => {
    const text = await exposition();
    const families = parsePrometheusText(text);
    const phases = families.get('otm_instances')!.samples.filter((s) => s.value > 0).map((s) => s.labels.phase).sort();
    assert.deepEqual(phases, ['Failed', 'Running', 'Stopped']);
    const run = await runTool('promtool', ['check', 'metrics'], text);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout + run.stderr, '', 'promtool check metrics complained');
  });

  it('every series the dashboard reads is in the exposition, directly or through a recording rule', async () => {
    const sampleNames = new Set([...parsePrometheusText(await exposition()).values()].flatMap((f) => f.samples.map((s) => s.name)));
    const recorded = new Map((await rulesOf('recording.yml')).map((r) => [r.record!, r.expr]));
    const missing = (expr: string): string[] => seriesNames(expr).flatMap((name) => {
      const source = recorded.get(name);
      if (source !== undefined) return missing(source);
      return sampleNames.has(name) ? [] : [name];
    });
    const queries = await dashboardQueries();
    assert.ok(queries.length > 10, `only ${queries.length} dashboard queries found`);
    for (const expr of queries) {
      assert.ok(seriesNames(expr).length > 0, `a dashboard query reads no otm_ series: ${expr}`);
      assert.deepEqual(missing(expr), [], `dashboard query ${expr}`);
    }
  });
});
