// The otm commands that talk to the daemon, run as a user runs them against a real daemon: its HTTP
// server, a PostgreSQL database of its own and the Dokku simulator. Every command's output and exit code.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { Config } from '../../src/config.js';
import { newKeyLine } from '../../src/desired/secret-store.js';
import { DesiredStore } from '../../src/desired/store.js';
import { Daemon } from '../../src/engine/daemon.js';
import { createLogger } from '../../src/engine/logger.js';
import type { InstanceStatus } from '../../src/engine/status.js';
import { createHttpServer, startHttp } from '../../src/http/server.js';
import type { HttpHandle } from '../../src/http/server.js';
import { parseConfig } from '../../src/manifest/index.js';
import type { ManifestObject } from '../../src/manifest/index.js';
import { newSimRoot, SIM_BIN } from '../dokku-sim/client.js';
import type { SimRoot } from '../dokku-sim/client.js';
import { waitFor } from '../support/services.js';
import { createTestDatabase } from '../store/database.js';
import type { TestDatabase } from '../store/database.js';
import { otm } from './support.js';

const TOKEN = randomBytes(24).toString('hex');
const PASSWORD_ENV = 'OTM_CLI_TEST_ADMIN_PASSWORD';

let db: TestDatabase;
let work: string;
let sim: SimRoot;
let daemon: Daemon;
let http: HttpHandle;
let server: string;
let tokenFile: string;
let manifests: string;

/** The options every command against the test daemon takes. */
const at = () => ['--server', server, '--token-file', tokenFile];

/** An HTTP server of the daemon's own code without a daemon behind it, for the refusals of a daemon set up otherwise. */
function standaloneServer(setup: { databaseConfigured: boolean; token: string | undefined }) {
  return createHttpServer({
    ...setup,
    desired: new DesiredStore(), status: () => undefined, plans: () => undefined, rows: () => undefined,
    readiness: async () => ({ ready: false, checks: { initialSync: 'pending', hosts: {}, leader: 'standby' } }),
    metrics: { exposition: async () => '', contentType: 'text/plain' },
  });
}

async function api<T>(route: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${server}${route}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: response.status, body: await response.json() as T };
}

async function statusOf(name: string): Promise<InstanceStatus | null> {
  return (await api<{ status: InstanceStatus | null }>(`/api/v1/instances/${name}`)).body.status;
}

/** Until the daemon's last pass over `name` saw `generation` and found nothing left to do. */
function settled(name: string, generation: number): Promise<InstanceStatus> {
  return waitFor(`${name} to settle at generation ${generation}`, async () => {
    const status = await statusOf(name);
    const reconciling = status?.conditions.find((c) => c.type === 'Reconciling');
    return status && status.observedGeneration >= generation && reconciling?.status === 'False' ? status : undefined;
  }, 90_000, 250);
}

/** Instances written through the API name a stored secret (the API refuses fromEnv); files may use fromEnv. */
function instanceYaml(name: string, extra = '', secret = '{ secretRef: adminPassword }'): string {
  return `apiVersion: otree-manager/v1
kind: OTreeInstance
metadata:
  name: ${name}
spec:
  owner: alice
  otree:
    adminPassword: ${secret}
  source: { image: { ref: otm-standin/otree:1 } }
${extra}`;
}

const experimenterYaml = `apiVersion: otree-manager/v1
kind: Experimenter
metadata:
  name: alice
spec:
  displayName: Alice Example
  sshKeys:
    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGEaT4vt3NAcu8+ICLYtT0vOxl5v7beL6875muzZG4N6 alice@lab-laptop
`;

before(async () => {
  db = await createTestDatabase();
  work = await mkdtemp(path.join(tmpdir(), 'otm-cli-api-'));
  sim = await newSimRoot({ version: '0.38.27', docker: '0', prefix: 'otm-cli-api-sim-' });
  manifests = path.join(work, 'manifests');
  await mkdir(manifests);
  // One instance declared by a file, which the API must refuse to change.
  await writeFile(path.join(manifests, 'from-file.yaml'), instanceYaml('from-file', '', `{ fromEnv: ${PASSWORD_ENV} }`));
  tokenFile = path.join(work, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const keyFile = path.join(work, 'secret-key');
  await writeFile(keyFile, `${newKeyLine('k1')}\n`, { mode: 0o600 });
  const { config, issues } = parseConfig(JSON.stringify({
    hosts: [{ name: 'local', transport: { type: 'local', dokkuPath: SIM_BIN } }],
    manifestsDir: manifests,
    stateDir: path.join(work, 'state'),
    backupDir: path.join(work, 'backups'),
    postgresUrl: db.url,
    http: { listen: '127.0.0.1:0', tokenFile },
    secrets: { keyFile },
    queue: { concurrency: 2, mutationsPerSecond: 50, burst: 50, backoffBaseMs: 200, backoffMaxMs: 2000 },
    resync: { schedule: '0 */10 * * * *', jitterPercent: 0 },
    drainSeconds: 5,
    log: { level: 'warn' },
  }), 'cli test configuration');
  assert.ok(config, JSON.stringify(issues));
  const logger = createLogger({ level: 'warn' });
  daemon = new Daemon({ config: config as unknown as Config, logger, env: { ...process.env, [PASSWORD_ENV]: 'cli-test-password' }, dokkuEnv: sim.env, docker: 'off' });
  await daemon.start();
  await daemon.secretStore()!.set('alice-study', 'adminPassword', 'cli-test-password', { actor: 'test' });
  http = await startHttp(daemon, config as unknown as Config, logger);
  server = http.url;
});

after(async () => {
  await http?.close();
  await daemon?.stop(5_000);
  await sim?.destroy();
  await rm(work, { recursive: true, force: true });
  await db?.drop();
});

describe('otm against a running daemon', () => {
  it('get instances: an aligned table of what the daemon reports, no colours when not on a terminal', async () => {
    const status = await settled('from-file', 1);
    const run = await otm(['get', 'instances', ...at()]);
    assert.equal(run.code, 0, run.stderr);
    const [header, row, ...rest] = run.stdout.split('\n');
    assert.deepEqual(rest, ['']);
    assert.match(header!, /^NAME\s+PHASE\s+READY\s+UPDATED\s+URL$/);
    assert.deepEqual(row!.split(/\s{2,}/).slice(0, 2), ['from-file', status.phase]);
    // Columns line up: each header word starts where its cells start.
    assert.equal(row!.indexOf(status.phase), header!.indexOf('PHASE'));
    assert.ok(!run.stdout.includes('\u001b['), 'no escape codes in a pipe');

    const wide = await otm(['get', 'instances', '-o', 'wide', ...at()]);
    assert.equal(wide.code, 0, wide.stderr);
    assert.match(wide.stdout, /^NAME\s+PHASE\s+READY\s+UPDATED\s+HOST\s+GENERATION\s+SOURCE\s+DEFERRED\s+URLS\n/);
    assert.match(wide.stdout, /\nfrom-file\s+\S+\s+\S+\s+\S+\s+local\s+1\/1\s+from-file\.yaml\s+<none>\s+/);
  });

  it('apply -f DIR: experimenters first, created then unchanged then configured', async () => {
    const dir = path.join(work, 'apply');
    await mkdir(dir);
    await writeFile(path.join(dir, 'alice.yaml'), experimenterYaml);
    await writeFile(path.join(dir, 'study.yaml'), instanceYaml('alice-study', '  env: { SESSION_LABEL: week-47 }\n'));
    const first = await otm(['apply', '-f', dir, ...at()]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'experimenter/alice created (generation 1)\ninstance/alice-study created (generation 1)\n');
    await settled('alice-study', 1);

    const again = await otm(['apply', '-f', dir, ...at()]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'experimenter/alice unchanged\ninstance/alice-study unchanged\n');

    const same = await otm(['diff', '-f', dir, ...at()]);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout, '');
    assert.equal(same.stderr, '0 objects of 2 would change\n');

    // Env values are never shown, so the diff shows keys; apply sends the values.
    await writeFile(path.join(dir, 'study.yaml'), instanceYaml('alice-study', '  env: { SESSION_LABEL: week-48, SESSION_ROOM: lab-2 }\n'));
    const diff = await otm(['diff', '-f', dir, ...at()]);
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, /^--- instance\/alice-study \(live, generation 1\)\n\+\+\+ instance\/alice-study \(.*apply\)\n@@ -\d+,\d+ \+\d+,\d+ @@\n/);
    assert.ok(diff.stdout.includes('\n+    SESSION_ROOM: "********"\n'), diff.stdout);
    assert.doesNotMatch(diff.stdout, /week-4|lab-2/);
    assert.equal(diff.stderr, '1 object of 2 would change\n');

    const changed = await otm(['apply', '-f', path.join(dir, 'study.yaml'), ...at()]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(changed.stdout, 'instance/alice-study configured (generation 2)\n');
    const live = await api<{ object: ManifestObject }>('/api/v1/instances/alice-study');
    assert.deepEqual((live.body.object as { spec: { env: Record<string, string> } }).spec.env, { SESSION_LABEL: '********', SESSION_ROOM: '********' });
    const { rows } = await db.pool.query(`SELECT spec -> 'env' AS env FROM otm.instances WHERE name = 'alice-study'`);
    assert.deepEqual(rows[0].env, { SESSION_LABEL: 'week-48', SESSION_ROOM: 'lab-2' });
  });

  it('apply sends nothing when a file is invalid, and names what the API refused', async () => {
    const dir = path.join(work, 'invalid');
    await mkdir(dir);
    await writeFile(path.join(dir, 'ok.yaml'), instanceYaml('never-sent'));
    await writeFile(path.join(dir, 'bad.yaml'), instanceYaml('bad-one', '  processes: { web: 2 }\n'));
    const run = await otm(['apply', '-f', 'invalid', ...at()], { cwd: work });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^invalid\/bad\.yaml:\d+:\d+ spec\.processes\.web: oTree 5 runs exactly one web process \(got 2\)\n1 error in invalid: nothing was sent; fix the files and run again\n$/);
    assert.equal((await api('/api/v1/instances/never-sent')).status, 404);

    const conflict = path.join(work, 'conflict.yaml');
    await writeFile(conflict, instanceYaml('from-file', '  env: { X: "1" }\n'));
    const refused = await otm(['apply', '-f', conflict, ...at()]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.equal(refused.stderr, 'instance/from-file: OTreeInstance "from-file" is declared by the manifest file from-file.yaml; change or remove it there (the API only writes database rows)\n1 object not applied\n');
  });

  it('get NAME -o yaml prints a manifest apply takes back unchanged; -o json is the API\'s answer', async () => {
    const yaml = await otm(['get', 'instance', 'alice-study', '-o', 'yaml', ...at()]);
    assert.equal(yaml.code, 0, yaml.stderr);
    const [object] = parseAllDocuments(yaml.stdout).map((d) => d.toJS() as ManifestObject);
    assert.equal(object!.kind, 'OTreeInstance');
    assert.equal(object!.metadata.name, 'alice-study');
    const file = path.join(work, 'round-trip.yaml');
    await writeFile(file, yaml.stdout);
    const back = await otm(['apply', '-f', file, ...at()]);
    assert.equal(back.stdout, 'instance/alice-study unchanged\n');

    const json = await otm(['get', 'instances', '-o', 'json', ...at()]);
    assert.equal(json.code, 0, json.stderr);
    const { items } = JSON.parse(json.stdout) as { items: { name: string; status: InstanceStatus | null }[] };
    assert.deepEqual(items.map((item) => item.name), ['alice-study', 'from-file']);
    assert.equal(items[1]!.status?.name, 'from-file');

    const experimenters = await otm(['get', 'experimenters', ...at()]);
    assert.equal(experimenters.code, 0, experimenters.stderr);
    assert.equal(experimenters.stdout, 'NAME   ROLE          DISPLAY NAME   SSH KEYS  INSTANCES\nalice  experimenter  Alice Example  1         2/3\n');

    const missing = await otm(['get', 'instance', 'nobody-here', ...at()]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `otm: instance nobody-here not found at ${server}: \`otm get instances\` lists them\n`);
  });

  it('describe instance: spec with secrets masked, status, conditions and events', async () => {
    const dir = path.join(work, 'secret');
    await mkdir(dir);
    await writeFile(path.join(dir, 'inline.yaml'), instanceYaml('inline-secret', '', '{ value: do-not-print-me }'));
    const applied = await otm(['apply', '-f', dir, ...at()]);
    assert.equal(applied.code, 0, applied.stderr);
    await settled('inline-secret', 1);

    const run = await otm(['describe', 'instance', 'inline-secret', ...at()]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /do-not-print-me/);
    assert.match(run.stdout, /^Name:\s+inline-secret\n/);
    assert.match(run.stdout, /\nDeclared in:\s+row:\S+\n/);
    // The inline value went to the encrypted store; the row names it.
    assert.match(run.stdout, /\n {2}Admin password:\s+stored secret adminPassword \(encrypted in the database\)\n/);
    assert.match(run.stdout, /\n {2}Source:\s+image otm-standin\/otree:1\n/);
    assert.match(run.stdout, /\nConditions:\n {2}TYPE\s+STATUS\s+REASON\s+SINCE\s+MESSAGE\n {2}Ready\s+/);
    assert.match(run.stdout, /\nEvents:\n {2}TYPE\s+REASON\s+AGE\s+MESSAGE\n {2}(Normal|Warning)\s+/);
    const status = await statusOf('inline-secret');
    assert.match(run.stdout, new RegExp(`\\nPhase:\\s+${status!.phase}\\n`));

    const experimenter = await otm(['describe', 'experimenter', 'alice', ...at()]);
    assert.equal(experimenter.code, 0, experimenter.stderr);
    assert.match(experimenter.stdout, /\nInstances:\s+alice-study, from-file, inline-secret\n/);
    assert.match(experimenter.stdout, /\nSSH keys:\n {2}ssh-ed25519 alice@lab-laptop\n$/);
  });

  it('restart and reset-db bump the generation; reset-db wants --yes', async () => {
    const restart = await otm(['restart', 'alice-study', ...at()]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal(restart.stdout, 'instance/alice-study restart requested (spec.restart.generation 1)\n');
    assert.match(restart.stderr, /inside a freeze window it waits until the window ends/);
    await waitFor('the restart to be carried out', async () => ((await statusOf('alice-study'))?.done.restart === 1 ? true : undefined), 90_000, 250);

    const unconfirmed = await otm(['reset-db', 'alice-study', ...at()]);
    assert.equal(unconfirmed.code, 2);
    assert.equal(unconfirmed.stderr, 'otm: reset-db deletes every session and participant of alice-study; run `otm reset-db alice-study --yes` to confirm\n');
    const reset = await otm(['reset-db', 'alice-study', '--yes', ...at()]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal(reset.stdout, 'instance/alice-study database reset requested (spec.resetDatabase.generation 1)\n');
    const live = await api<{ object: { spec: { resetDatabase: { generation: number }; restart: { generation: number } } } }>('/api/v1/instances/alice-study');
    assert.deepEqual([live.body.object.spec.restart.generation, live.body.object.spec.resetDatabase.generation], [1, 1]);
  });

  it('delete instance: gone from the API; a second delete says it is not there', async () => {
    const run = await otm(['delete', 'instance', 'inline-secret', ...at()]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'instance/inline-secret deleted\n');
    await waitFor('the row to leave the desired state', async () => ((await api<{ object: unknown }>('/api/v1/instances/inline-secret')).body.object === null || undefined));
    // The daemon keeps the status of an instance it did not prune: describe says it is declared nowhere.
    const orphan = await otm(['describe', 'instance', 'inline-secret', ...at()]);
    assert.equal(orphan.code, 0, orphan.stderr);
    assert.match(orphan.stdout, /^Name:\s+inline-secret\nDeclared in:\s+nowhere: the daemon keeps its status, but no manifest or row declares it \(orphaned\)\n/);
    assert.doesNotMatch(orphan.stdout, /\nSpec:\n/);
    const again = await otm(['delete', 'instance', 'inline-secret', ...at()]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `otm: instance inline-secret not found at ${server}: \`otm get instances\` lists them\n`);
  });

  it('refused and missing tokens say which file and what to do', async () => {
    const wrong = path.join(work, 'wrong-token');
    await writeFile(wrong, 'not-the-token-at-all\n');
    const refused = await otm(['restart', 'alice-study', '--server', server, '--token-file', wrong]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `otm: the token in ${wrong} was refused: use the file the daemon's http.tokenFile names\n`);

    const none = await otm(['restart', 'alice-study', '--server', server]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'otm: the API needs a token: pass --token-file FILE or set http.tokenFile in the configuration\n');
  });

  it('reads the server and token from the configuration; version names the daemon\'s', async () => {
    const configFile = path.join(work, 'client.json');
    await writeFile(configFile, JSON.stringify({ http: { listen: new URL(server).host, tokenFile } }));
    const version = await otm(['--config', configFile, 'version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `otm 0.1.0\nnode ${process.version}\ndaemon 0.1.0 at ${server}\n`);
    const restart = await otm(['--config', configFile, 'restart', 'alice-study']);
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal(restart.stdout, 'instance/alice-study restart requested (spec.restart.generation 2)\n');
  });
});

describe('otm when the daemon cannot take the request', () => {
  it('an unreachable daemon: exit 1 and how to check it; version still answers', async () => {
    // A port that was just free: nothing listens there.
    const closed = standaloneServer({ databaseConfigured: false, token: undefined });
    const url = await closed.listen({ host: '127.0.0.1', port: 0 });
    await closed.close();
    const run = await otm(['get', 'instances', '--server', url]);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `otm: cannot reach the otree-manager daemon at ${url} (ECONNREFUSED): is \`otm run\` running? (check \`systemctl status otree-manager\`; --server URL points elsewhere)\n`);
    const version = await otm(['version', '--server', url]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `otm 0.1.0\nnode ${process.version}\ndaemon unreachable at ${url}\n`);

    const diff = await otm(['diff', '-f', path.join(work, 'apply'), '--server', url]);
    assert.equal(diff.code, 2);
    assert.match(diff.stderr, /^otm: cannot reach the otree-manager daemon at /);
  });

  it('a daemon without a database or without a token refuses writes with its reason', async () => {
    const noDatabase = standaloneServer({ databaseConfigured: false, token: TOKEN });
    const noToken = standaloneServer({ databaseConfigured: true, token: undefined });
    const [a, b] = [await noDatabase.listen({ host: '127.0.0.1', port: 0 }), await noToken.listen({ host: '127.0.0.1', port: 0 })];
    try {
      const run = await otm(['delete', 'instance', 'alice-study', '--server', a, '--token-file', tokenFile]);
      assert.equal(run.code, 1);
      assert.equal(run.stderr, 'otm: desired state can only be written when postgresUrl is configured; edit the manifest files instead\n');
      const disabled = await otm(['restart', 'alice-study', '--server', b, '--token-file', tokenFile]);
      assert.equal(disabled.code, 1);
      assert.equal(disabled.stderr, 'otm: the API is disabled: set http.tokenFile in the configuration to a file holding a token and restart the daemon\n');
    } finally {
      await noDatabase.close();
      await noToken.close();
    }
  });
});
