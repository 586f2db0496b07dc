// The instance form: a stored spec shown as fields and read back unchanged; what was typed shaped
// into a spec; API issue paths placed at their fields.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateRow } from '../../src/desired/rows.js';
import { SECRET_MASK } from '../../src/manifest/index.js';
import type { OTreeInstanceSpec } from '../../src/manifest/types.js';
import { fieldOfPath, formOfSpec, newForm, specOfForm } from '../../src/web/instance-form.js';
import { LabTime } from '../../src/web/time.js';

const time = new LabTime('Europe/Berlin');

function stored(raw: Record<string, unknown>): OTreeInstanceSpec {
  const parsed = validateRow('instances', 'exp', { owner: 'alice', otree: { adminPassword: { secretRef: 'adminPassword' } }, ...raw }, {}, {});
  const object = parsed.objects[0]?.object;
  assert.equal(object?.kind, 'OTreeInstance', JSON.stringify(parsed.issues));
  return object.spec as OTreeInstanceSpec;
}

test('an edited instance keeps what the form does not show, and env values stay masked for the API to keep', () => {
  const spec = stored({
    collaborators: ['bob'], env: { SENTRY_DSN: 'https://key@sentry' }, rooms: [{ name: 'lab', displayName: 'Lab', participantLabels: ['s1'] }],
    freezeWindows: [{ from: '2026-12-03T08:00:00Z', to: '2026-12-03T10:00:00Z' }], restart: { generation: 3 }, resources: { memory: '1g' },
    expiresAt: '2027-03-31T21:59:00.000Z',
  });
  const form = formOfSpec('exp', spec, { course: 'econ101' }, time);
  assert.equal(form.env, `SENTRY_DSN=${SECRET_MASK}`);
  assert.equal(form.expiresOn, '2027-03-31');
  const { spec: back, labels, problems } = specOfForm(form, structuredClone(spec), time, () => 'unused');
  assert.deepEqual(problems, []);
  assert.deepEqual(labels, { course: 'econ101' });
  assert.deepEqual(back.rooms, spec.rooms);
  assert.deepEqual(back.freezeWindows, spec.freezeWindows);
  assert.deepEqual(back.restart, { generation: 3 });
  assert.deepEqual(back.otree, spec.otree);
  assert.deepEqual(back.env, { SENTRY_DSN: SECRET_MASK });
  assert.deepEqual(back.resources, { memory: '1g' });
  assert.equal(back.expiresAt, '2027-03-31T21:59:00.000Z', 'the end of the day in the lab\'s zone');
});

test('an experimenter\'s form has no placement fields: the stored placement is kept', () => {
  const spec = { ...stored({ resources: { memory: '2g' } }), domains: ['exp.lab.example.org'] };
  const { web: _web, worker: _worker, memory: _memory, cpu: _cpu, domains: _domains, host: _host, ...withoutPlacement } = formOfSpec('exp', spec, {}, time);
  const { spec: back } = specOfForm(withoutPlacement, structuredClone(spec), time, () => 'unused');
  assert.deepEqual(back.resources, { memory: '2g' });
  assert.deepEqual(back.domains, ['exp.lab.example.org']);
});

test('a new instance: typed fields shaped, an empty password generated, lines that are not KEY=VALUE named', () => {
  const form = { ...newForm('alice'), name: 'new-exp', source: 'git', gitUrl: 'https://git.example.org/p.git', gitRef: '', collaborators: 'bob, carol', env: 'A=1\nnot a pair' };
  const { spec, problems } = specOfForm(form, undefined, time, () => 'generated-secret');
  assert.deepEqual(problems, [{ field: 'env', message: '"not a pair" is not KEY=VALUE' }]);
  assert.deepEqual(spec.source, { git: { url: 'https://git.example.org/p.git', ref: 'main' } });
  assert.deepEqual(spec.collaborators, ['bob', 'carol']);
  assert.deepEqual((spec.otree as { adminPassword: unknown }).adminPassword, { value: 'generated-secret' });
  assert.deepEqual(spec.env, { A: '1' });
});

test('API issue paths land at their fields', () => {
  assert.equal(fieldOfPath('spec.processes.web'), 'web');
  assert.equal(fieldOfPath('spec.processes.worker'), 'worker');
  assert.equal(fieldOfPath('spec.source.git.url'), 'gitUrl');
  assert.equal(fieldOfPath('metadata.name'), 'name');
  assert.equal(fieldOfPath('spec.domains[0]'), 'domains');
  assert.equal(fieldOfPath('spec.rooms[0].name'), undefined);
});
