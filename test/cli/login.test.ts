// The CLI against otm web with a personal token: `otm login` signs in and saves a token (mode 0600),
// `otm get instances` then shows only the person's own, and `otm logout` revokes the token.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { DesiredStore } from '../../src/desired/store.js';
import { systemClock } from '../../src/engine/clock.js';
import { PgStatusStore } from '../../src/engine/status-pg.js';
import { parseManifests } from '../../src/manifest/index.js';
import { readAudit } from '../../src/store/audit.js';
import { PeopleStore } from '../../src/web/people.js';
import { createWebServer } from '../../src/web/server.js';
import type { WebServer } from '../../src/web/server.js';
import { useMigratedDatabase } from '../store/database.js';
import { otm } from './support.js';

const db = useMigratedDatabase();
const PASSWORD = 'a long enough pass phrase';

const MANIFESTS = `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: alice }
spec: { displayName: Alice }
---
apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: bob }
spec: { displayName: Bob }
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: alice-pgg }
spec: { owner: alice, otree: { adminPassword: { fromEnv: PW } } }
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: bob-survey }
spec: { owner: bob, otree: { adminPassword: { fromEnv: PW } } }
`;

describe('otm login against otm web', () => {
  let work: string;
  let server: WebServer;
  let url: string;
  let env: Record<string, string>;

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'otm-login-'));
    env = { XDG_CONFIG_HOME: path.join(work, 'config') };
    const configFile = path.join(work, 'otm.yaml');
    await writeFile(configFile, `postgresUrl: ${db.url}\nmanifestsDir: ${work}\n`);
    const { config } = await loadConfig({ path: configFile });
    const desired = new DesiredStore();
    desired.apply([{ source: 'lab.yaml', snapshot: parseManifests(MANIFESTS, 'lab.yaml') }]);
    const people = new PeopleStore({ pool: db.pool, clock: systemClock, idleTimeoutMs: 3_600_000, absoluteTimeoutMs: 7_200_000 });
    await people.setPassword('alice', PASSWORD, { actor: 'test', authMethod: 'local' });
    const status = new PgStatusStore(db.pool);
    server = createWebServer({
      config, people, clock: systemClock, log: pino({ level: 'silent' }), desired, status: () => status, rows: () => undefined, plans: () => undefined,
      audit: () => (query) => readAudit(db.pool, query),
    });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await server?.app.close();
    await rm(work, { recursive: true, force: true });
  });

  test('a wrong password saves nothing', async () => {
    const run = await otm(['login', '--server', url, '--name', 'alice'], { env, input: 'not the password\n' });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /sign-in to .* as alice refused: the name or the password is wrong/);
    await assert.rejects(stat(path.join(work, 'config/otree-manager/credentials.json')), { code: 'ENOENT' });
  });

  test('login saves a private token; get shows only the person\'s own; logout revokes it', async () => {
    const login = await otm(['login', '--server', url, '--name', 'alice'], { env, input: `${PASSWORD}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, /signed in to .* as alice/);
    const file = path.join(work, 'config/otree-manager/credentials.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { token: string };
    assert.ok(!login.stdout.includes(saved.token) && !login.stderr.includes(saved.token), 'the token is not printed');
    const { rows: sessions } = await db.pool.query("SELECT revoked_at FROM otm.sessions WHERE person = 'alice'");
    assert.ok(sessions.length > 0 && sessions.every((s) => s.revoked_at !== null), 'the sign-in session ended with the command');

    const list = await otm(['get', 'instances', '-o', 'json'], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { items: { name: string }[] }).items.map((i) => i.name), ['alice-pgg']);
    const other = await otm(['get', 'instance', 'bob-survey'], { env });
    assert.equal(other.code, 1);
    assert.ok(!other.stdout.includes('bob-survey owner'));

    const audit = await otm(['audit', '-o', 'json'], { env });
    assert.equal(audit.code, 0, audit.stderr);
    const entries = (JSON.parse(audit.stdout) as { items: { actor: string; action: string }[] }).items;
    assert.ok(entries.some((e) => e.action === 'token.create'));
    assert.ok(entries.every((e) => e.actor === 'alice'), 'only her own entries');
    assert.equal((await otm(['audit', '--user', 'test'], { env })).code, 1, 'not someone else\'s');
    const table = await otm(['audit'], { env });
    assert.match(table.stdout, /^TIME\s+WHO\s+ACTION\s+OBJECT\s+FROM\s+HOW\n[^]*alice\s+token\.create\s+person\/alice/m);

    const logout = await otm(['logout'], { env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(logout.stderr, /the token is revoked/);
    const { rows: tokens } = await db.pool.query("SELECT revoked_at FROM otm.api_tokens WHERE person = 'alice'");
    assert.ok(tokens.length === 1 && tokens[0].revoked_at !== null);
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });
});
