// The shipped rules, checked by Prometheus's own promtool: syntax, the unit tests under prometheus/tests,
// and what every alert must carry (severity, summary, a description naming the daemon, a runbook).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { OPERATIONS_DOC, PROMETHEUS_DIR, rulesOf, runTool } from './tools.js';

interface RuleTestFile {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

async function testFiles(): Promise<string[]> {
  const names = (await readdir(`${PROMETHEUS_DIR}tests`)).filter((n) => n.endsWith('.yml')).sort();
  return names.map((n) => `${PROMETHEUS_DIR}tests/${n}`);
}

/** The text of the runbook section `### <alert>` in docs/operations.md, up to the next heading. */
function runbookSection(doc: string, alert: string): string | undefined {
  const start = doc.search(new RegExp(`^### ${alert}$`, 'm'));
  if (start < 0) return undefined;
  const rest = doc.slice(doc.indexOf('\n', start));
  const end = rest.search(/^#{1,3} /m);
  return end < 0 ? rest : rest.slice(0, end);
}

test('promtool check rules accepts every rule file', async () => {
  const files = ['alerts.yml', 'recording.yml'] as const;
  const run = await runTool('promtool', ['check', 'rules', ...files.map((f) => `${PROMETHEUS_DIR}${f}`)]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  for (const file of files) {
    assert.ok(run.stdout.includes(`SUCCESS: ${(await rulesOf(file)).length} rules found`), `${file}: ${run.stdout}`);
  }
});

test('promtool test rules passes every unit test under prometheus/tests', async () => {
  const files = await testFiles();
  assert.ok(files.length > 0, 'prometheus/tests holds no test file');
  const run = await runTool('promtool', ['test', 'rules', ...files]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.stdout.match(/^ {2}SUCCESS$/gm)?.length, files.length, run.stdout);
});

test('every alert has a unit test where it fires and one where it stays silent', async () => {
  const evals = (await Promise.all((await testFiles()).map(async (f) => parse(await readFile(f, 'utf8')) as RuleTestFile)))
    .flatMap((file) => file.tests.flatMap((t) => t.alert_rule_test ?? []));
  for (const { alert } of await rulesOf('alerts.yml')) {
    const mine = evals.filter((e) => e.alertname === alert);
    assert.ok(mine.some((e) => (e.exp_alerts ?? []).length > 0), `no test makes ${alert} fire`);
    assert.ok(mine.some((e) => (e.exp_alerts ?? []).length === 0), `no test keeps ${alert} silent`);
  }
});

test('every alert carries a severity, a summary, a description naming where, and a runbook with its defaults', async () => {
  const doc = await readFile(OPERATIONS_DOC, 'utf8');
  const alerts = await rulesOf('alerts.yml');
  assert.ok(alerts.length > 0);
  for (const rule of alerts) {
    const alert = rule.alert!;
    assert.match(alert, /^Otm[A-Za-z]+$/);
    assert.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${alert}: severity ${rule.labels?.severity}`);
    assert.ok(rule.annotations?.summary, `${alert} has no summary`);
    assert.match(rule.annotations?.description ?? '', /\{\{ \$labels\.(instance|job) \}\}/, `${alert}: the description names neither the daemon nor the job`);
    assert.equal(rule.annotations?.runbook_url, `docs/operations.md#${alert.toLowerCase()}`, alert);
    const section = runbookSection(doc, alert);
    assert.ok(section, `docs/operations.md has no section "### ${alert}"`);
    assert.ok(section.includes(`\`${rule.expr.trim()}\``), `the runbook of ${alert} does not quote its expression`);
    assert.ok(section.includes(`for ${rule.for}`), `the runbook of ${alert} does not state its duration (for ${rule.for})`);
  }
});
