// Parsers against golden output copied byte for byte from Dokku's sources (see fixtures/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseJsonReport, parseTextReports, pick } from '../../src/observed/parse/report.js';
import {
  parseAppsListJson, parseConfigExport, parseLetsencryptList, parseNameList, parsePsScale, parseSshKeys,
} from '../../src/observed/parse/lists.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`fixtures/${name}`, import.meta.url)), 'utf8');

test('apps:report text, Go layout before and after the autocreation row, and both JSON key generations agree', () => {
  for (const name of ['apps-report-go-0.38.12.txt', 'apps-report-go-0.38.11.txt']) {
    const reports = parseTextReports(fixture(name), 'app');
    assert.deepEqual([...reports.keys()], ['myapp']);
    const r = reports.get('myapp');
    assert.equal(pick(r, 'app', 'created-at'), '1767225600');
    assert.equal(pick(r, 'app', 'deploy-source'), 'docker-image');
    assert.equal(pick(r, 'app', 'deploy-source-metadata'), 'registry.example.com/otree:v42');
    assert.equal(pick(r, 'app', 'locked'), 'false');
  }
  assert.equal(pick(parseTextReports(fixture('apps-report-go-0.38.12.txt'), 'app').get('myapp'), 'app', 'global-disable-autocreation'), '');
  for (const name of ['apps-report-0.38.12.json', 'apps-report-legacy.json']) {
    const r = parseJsonReport(fixture(name));
    assert.equal(pick(r, 'app', 'deploy-source'), 'docker-image');
    assert.equal(pick(r, 'app', 'deploy-source-metadata'), 'registry.example.com/otree:v42');
    assert.equal(pick(r, 'app', 'created-at'), '1767225600');
  }
});

test('ps:report text of 0.35 and 0.38.8: deployed, running, restore and per-container status rows', () => {
  for (const name of ['ps-report-go-0.35.txt', 'ps-report-go-0.38.8.txt']) {
    const r = parseTextReports(fixture(name), 'ps').get('myapp');
    assert.equal(pick(r, 'ps', 'deployed'), 'true');
    assert.equal(pick(r, 'ps', 'running'), 'true');
    assert.equal(pick(r, 'ps', 'restore'), 'true');
    assert.equal(pick(r, 'ps', 'can-scale'), 'true');
    assert.equal(pick(r, 'ps', 'status-web-1'), 'running (CID: 3f2a1b4c5d6)');
  }
  const r = parseTextReports(fixture('ps-report-go-0.38.8.txt'), 'ps').get('myapp');
  assert.equal(pick(r, 'ps', 'computed-restart-policy'), 'on-failure:10', 'values containing colons survive');
  assert.equal(pick(r, 'ps', 'start-cmd'), '', 'empty values with trailing padding are empty');
});

test('a report without an app name covers every app, one header each', () => {
  const reports = parseTextReports(fixture('ps-report-go-0.35-bulk.txt'), 'ps');
  assert.deepEqual([...reports.keys()], ['myapp', 'otree-b']);
  assert.equal(pick(reports.get('otree-b'), 'ps', 'running'), 'false');
  assert.equal(pick(reports.get('otree-b'), 'ps', 'status-web-1'), 'exited (CID: 9a8b7c6d5e4)');
  assert.equal(pick(reports.get('myapp'), 'ps', 'running'), 'true');
});

test('domains:report: Go text, bash text with trailing padding, and JSON give the same values', () => {
  const go = parseTextReports(fixture('domains-report-go.txt'), 'domains').get('myapp');
  const bash = parseTextReports(fixture('domains-report-bash.txt'), 'domains').get('myapp');
  const json = parseJsonReport(fixture('domains-report.json'));
  for (const r of [go, bash, json]) {
    assert.equal(pick(r, 'domains', 'app-enabled'), 'true');
    assert.equal(pick(r, 'domains', 'app-vhosts'), 'myapp.example.com otree.example.org');
    assert.equal(pick(r, 'domains', 'global-vhosts'), 'example.com');
  }
});

test('git:report: Go and bash layouts', () => {
  for (const name of ['git-report-go.txt', 'git-report-bash.txt']) {
    const r = parseTextReports(fixture(name), 'git').get('myapp');
    assert.equal(pick(r, 'git', 'sha'), '6f1c2a0e5b7d4c3a9e8f7d6c5b4a3f2e1d0c9b8a');
    assert.equal(pick(r, 'git', 'source-image'), 'registry.example.com/otree:v42');
    assert.equal(pick(r, 'git', 'last-updated-at'), '1767225600');
  }
});

test('resource:report: prefixed (0.38.8) and trimmed (0.38.7) text keys, both JSON generations', () => {
  const reports = [
    parseTextReports(fixture('resource-report-go-0.38.8.txt'), 'resource').get('myapp'),
    parseTextReports(fixture('resource-report-go-0.38.7.txt'), 'resource').get('myapp'),
    parseJsonReport(fixture('resource-report-0.38.8.json')),
    parseJsonReport(fixture('resource-report-legacy.json')),
  ];
  for (const r of reports) {
    assert.equal(pick(r, 'resource', '_default_-limit-memory'), '512m');
    assert.equal(pick(r, 'resource', '_default_-limit-cpu'), '1');
    assert.equal(pick(r, 'resource', 'web-reserve-memory'), '256m');
  }
});

test('service :info and letsencrypt:report (bash layouts, long keys)', () => {
  const info = parseTextReports(fixture('postgres-info.txt'), 'postgres service').get('otree-db');
  assert.equal(info?.['status'], 'running');
  assert.equal(info?.['links'], 'myapp');
  assert.equal(info?.['dsn'], 'postgres://postgres:2f6c3b8e9a1d4f7c0b5e8a2d6c9f3b1e@dokku-postgres-otree-db:5432/otree_db');
  const le = parseTextReports(fixture('letsencrypt-report-bash.txt'), 'letsencrypt').get('myapp');
  assert.equal(pick(le, 'letsencrypt', 'active'), 'true');
  assert.equal(pick(le, 'letsencrypt', 'expiration'), '1775001600');
  assert.equal(pick(le, 'letsencrypt', 'computed-graceperiod'), '2592000');
  assert.equal(pick(le, 'letsencrypt', 'computed-server'), 'https://acme-v02.api.letsencrypt.org/directory');
});

test('apps:list text (header) and JSON; name lists skip headers and notices', () => {
  assert.deepEqual(parseNameList(fixture('apps-list.txt')), ['myapp', 'otree-prod']);
  assert.deepEqual(parseAppsListJson('["myapp","otree-prod"]\n'), ['myapp', 'otree-prod']);
  assert.deepEqual(parseAppsListJson('[]\n'), []);
  assert.deepEqual(parseNameList('=====> Postgres services\notree-db\nzeta\n'), ['otree-db', 'zeta']);
  assert.deepEqual(parseNameList(' !     There are no Postgres services\n'), []);
});

test('ps:scale text (with and without header) and JSON', () => {
  assert.deepEqual(parsePsScale(fixture('ps-scale.txt')), { web: 1, worker: 2 });
  assert.deepEqual(parsePsScale('web:  1\nworker: 2\n'), { web: 1, worker: 2 });
  assert.deepEqual(parsePsScale(fixture('ps-scale.json')), { web: 1, worker: 2 });
  assert.deepEqual(parsePsScale('-----> Scaling for myapp\nproctype: qty\n--------: ---\n'), {});
  assert.deepEqual(parsePsScale('[]'), {});
});

test('config:export --format json keeps values verbatim', () => {
  const config = parseConfigExport(fixture('config-export.json'));
  assert.equal(config['OTREE_ADMIN_PASSWORD'], "s3cr3t it's");
  assert.equal(config['OTREE_PRODUCTION'], '1');
  assert.deepEqual(parseConfigExport('{"A":"line1\\nline2 \\u0026 ü"}'), { A: 'line1\nline2 & ü' });
  assert.throws(() => parseConfigExport('export A=1'), /config:export --format json/);
});

test('letsencrypt:list columns', () => {
  assert.deepEqual(parseLetsencryptList(fixture('letsencrypt-list.txt')), [{ app: 'myapp', expiry: '2026-04-01 00:00:00' }]);
  assert.deepEqual(parseLetsencryptList('%-6s App name\n'.replace('%-6s', '----->')), []);
});

test('ssh-keys:list JSON and text layouts', () => {
  for (const name of ['ssh-keys-list.json', 'ssh-keys-list.txt']) {
    const keys = parseSshKeys(fixture(name));
    assert.deepEqual([...keys.keys()], ['admin', 'alice']);
    assert.deepEqual(keys.get('alice'), ['2a:f7:39:1c:63:80:c4:9e:a8:92:ec:e6:94:91:fa:c0']);
  }
});
