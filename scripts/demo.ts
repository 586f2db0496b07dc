// `make demo`: the daemon on the example manifests against the Dokku simulator. With a Docker Engine,
// every deployed process runs as a real container (the oTree stand-in) and the demo shows each
// instance's server answering; without one the simulator runs without containers and says so.
//
// What it shows, in order: convergence from an empty host; the experimenters' `git push` for the
// push-source instances (simulated by deploying the stand-in image); one manifest edit applied with
// exactly one restart; and everything answering. With PostgreSQL (a private cluster `make demo` starts
// when the server is installed) it also runs `otm web` on http://127.0.0.1:8080: the lab admin creates an
// instance for an experimenter there, the experimenter restarts it, and the sign-ins are printed.
// It cleans up after itself (`--keep` leaves it running until Ctrl-C).
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { parseConfig } from '../src/manifest/index.js';
import type { Config } from '../src/config.js';
import { Daemon } from '../src/engine/daemon.js';
import { createLogger } from '../src/engine/logger.js';
import type { InstanceStatus } from '../src/engine/status.js';
import { countInvocations, newSimRoot, readInvocations, webPort } from '../test/dokku-sim/client.js';
import type { SimRoot } from '../test/dokku-sim/client.js';
import { ensureStandinImage, STANDIN_IMAGE } from '../test/support/image.js';
import { createServer } from 'node:net';
import pg from 'pg';
import pino from 'pino';
import { newKeyLine } from '../src/desired/secret-store.js';
import { systemClock } from '../src/engine/clock.js';
import { PeopleStore } from '../src/web/people.js';
import { startWeb } from '../src/web/process.js';
import type { WebHandle } from '../src/web/process.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const say = (line = '') => process.stdout.write(`${line}\n`);

async function dockerAnswers(): Promise<boolean> {
  try {
    await new Docker().ping();
    return true;
  } catch {
    return false;
  }
}

/** Copies the example manifests, pointing their secret files at files the demo writes. */
async function prepareManifests(work: string): Promise<{ dir: string; secrets: string }> {
  const dir = join(work, 'manifests');
  const secrets = join(work, 'secrets');
  await mkdir(dir, { recursive: true });
  for (const file of await readdir(join(repo, 'manifests'))) {
    if (!/\.ya?ml$/.test(file)) continue;
    const text = await readFile(join(repo, 'manifests', file), 'utf8');
    await writeFile(join(dir, file), text.replaceAll('/etc/otree-manager/secrets/', `${secrets}/`));
    for (const m of text.matchAll(/fromFile: \/etc\/otree-manager\/secrets\/([^\s}]+)/g)) {
      const path = join(secrets, m[1]!);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, `demo-${m[1]!.replace(/\W+/g, '-')}\n`, { mode: 0o600 });
    }
  }
  return { dir, secrets };
}

function table(statuses: InstanceStatus[]): string {
  const rows = statuses
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => {
      const ready = s.conditions.find((c) => c.type === 'Ready');
      return [s.name, s.phase, `${ready?.status ?? '?'} ${ready?.reason ?? ''}`, (s.notes ?? [])[0] ?? ''];
    });
  const header = ['INSTANCE', 'PHASE', 'READY', 'NOTE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

async function waitUntil(what: string, daemon: Daemon, done: (s: InstanceStatus[]) => boolean, timeoutMs = 120_000): Promise<InstanceStatus[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await daemon.status.list();
    if (done(statuses) && daemon.queue.len() === 0) return statuses;
    if (Date.now() > deadline) throw new Error(`the demo gave up waiting for ${what}:\n${table(statuses)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const settled = (names: string[]) => (statuses: InstanceStatus[]) =>
  names.every((n) => {
    const s = statuses.find((x) => x.name === n);
    return s !== undefined && s.conditions.some((c) => c.type === 'Reconciling' && c.status === 'False');
  });

/** The PostgreSQL server `make demo` started (scripts/with-services.sh), if any. */
const PG_SERVER = process.env.OTM_TEST_PG_URL;
const WEB_PORT = 8080;

/** 8080 when it is free, another free port otherwise. */
function webPortToUse(): Promise<number> {
  const tryPort = (port: number) => new Promise<number>((resolve, reject) => {
    const server = createServer().once('error', reject).listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
  return tryPort(WEB_PORT).catch(() => tryPort(0));
}

/** A database of the demo's own on the demo's server; dropped at the end. */
async function demoDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  if (!PG_SERVER) return undefined;
  const name = `otm_demo_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: PG_SERVER });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
  } catch {
    return undefined;
  } finally {
    await admin.end().catch(() => undefined);
  }
  const url = new URL(PG_SERVER);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: PG_SERVER });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => client.end());
    },
  };
}

/** A browser's session as a script holds it: the session cookie of a JSON sign-in. */
async function signIn(web: string, name: string, password: string): Promise<(path: string, init?: RequestInit) => Promise<Response>> {
  const response = await fetch(`${web}/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ name, password }) });
  if (!response.ok) throw new Error(`${name} cannot sign in to otm web: HTTP ${response.status}`);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0]!;
  return (path, init = {}) => fetch(`${web}${path}`, { ...init, headers: { cookie, 'content-type': 'application/json', accept: 'application/json', ...init.headers } });
}

async function main(): Promise<void> {
  const withDocker = await dockerAnswers();
  say('otree-manager demo: the daemon on the example manifests, against the Dokku simulator (Dokku 0.38.27)');
  if (withDocker) {
    await ensureStandinImage();
    say(`A Docker Engine answers: deployed processes run as real containers of the oTree stand-in (${STANDIN_IMAGE}).`);
  } else {
    say('No Docker Engine answers: the simulator runs without containers (start one with `make services` to see real containers).');
  }
  const work = await mkdtemp(join(tmpdir(), 'otm-demo-'));
  const sim: SimRoot = await newSimRoot({ version: '0.38.27', docker: withDocker ? '1' : '0', globalDomain: 'lab.example.org', prefix: 'otm-demo-sim-' });
  const { dir, secrets } = await prepareManifests(work);
  const database = await demoDatabase();
  const webListenPort = database ? await webPortToUse() : undefined;
  const keyFile = join(work, 'secret-key');
  if (database) await writeFile(keyFile, `${newKeyLine('demo')}\n`, { mode: 0o600 });
  const { config } = parseConfig(JSON.stringify({
    // The example manifests' secret files, written by the demo: fromFile reads only below these.
    secrets: { dirs: [secrets], ...(database ? { keyFile } : {}) },
    ...(database ? { postgresUrl: database.url, web: { listen: `127.0.0.1:${webListenPort}`, timeZone: 'Europe/Berlin' } } : {}),
    hosts: [{ name: 'local', transport: { type: 'local', dokkuPath: join(repo, 'test/dokku-sim/dokku') } }],
    manifestsDir: dir,
    stateDir: join(work, 'state'),
    backupDir: join(work, 'backups'),
    baseDomain: 'lab.example.org',
    queue: { concurrency: 4, mutationsPerSecond: 20, burst: 20 },
    log: { level: 'warn' },
  }), 'demo configuration');
  if (!config) throw new Error('the demo configuration does not validate against schemas/config.schema.json');
  const logger = createLogger({ level: 'warn' });
  const daemon = new Daemon({
    config: config as unknown as Config,
    logger,
    env: { ...process.env, ALICE_PGG_ADMIN_PASSWORD: 'demo-alice-password' },
    dokkuEnv: sim.env,
    docker: withDocker ? 'auto' : 'off',
  });
  let web: WebHandle | undefined;
  try {
    say(`\nStarting the daemon on ${dir}${database ? ' with PostgreSQL' : ''}`);
    await daemon.start();
    const names = daemon.desired.instances().map((s) => s.declared.object.metadata.name);
    let statuses = await waitUntil('the first convergence', daemon, settled(names));
    say(`\n1. Converged from an empty host (${await countInvocations(sim.root)} Dokku invocations, ${(await readInvocations(sim.root)).filter((i) => i.mutating).length} of them changes):\n`);
    say(table(statuses));

    const pushed = statuses.filter((s) => s.phase === 'Pending').map((s) => s.name);
    if (pushed.length > 0) {
      say(`\n2. The experimenters push their code (simulated: ${pushed.join(', ')} get the stand-in image)`);
      for (const name of pushed) await sim.run(['git:from-image', name, STANDIN_IMAGE]);
      for (const name of pushed) daemon.controller.appChanged('local', name);
      statuses = await waitUntil('the pushed instances to run', daemon, (s) => settled(names)(s) && pushed.every((n) => s.find((x) => x.name === n)?.phase === 'Running'));
      say(table(statuses));
    }

    const target = join(dir, 'minimal-instance.yaml');
    const before = await countInvocations(sim.root, 'ps:restart');
    const seen = (await daemon.status.events('alice-pgg', 1000)).length;
    say('\n3. An admin edits alice-pgg\'s manifest (adds SESSION_LABEL to its env); the daemon applies it with one restart');
    await writeFile(target, `${await readFile(target, 'utf8')}  env:\n    SESSION_LABEL: "demo-week-48"\n`);
    await waitUntil('the edit to be applied', daemon, (s) => {
      const alice = s.find((x) => x.name === 'alice-pgg');
      return alice !== undefined && (alice.observedGeneration ?? 0) >= 2 && settled(['alice-pgg'])(s);
    });
    const events = await daemon.status.events('alice-pgg', 1000);
    // Newest first: the ones recorded since the edit come before the `seen` older ones.
    for (const e of events.slice(0, events.length - seen).reverse().filter((x) => x.reason === 'Applied')) say(`   ${e.message}`);
    say(`   restarts for this change: ${(await countInvocations(sim.root, 'ps:restart')) - before}`);

    if (withDocker) {
      say('\n4. Every running instance\'s server answers GET /login:');
      for (const s of (await daemon.status.list()).filter((x) => x.phase === 'Running').sort((a, b) => a.name.localeCompare(b.name))) {
        const port = await webPort(sim.root, s.name);
        const response = port ? await fetch(`http://127.0.0.1:${port}/login`).then((r) => r.status, (e: Error) => e.message) : 'no web port';
        say(`   ${s.name.padEnd(16)} http://127.0.0.1:${port}/login -> ${response}   (${s.urls[0] ?? ''})`);
      }
    }
    if (database) {
      web = await showWeb(config as unknown as Config, database.url, daemon, sim);
    } else {
      say('\nNo PostgreSQL server: otm web (the web interface) needs one. Install the package postgresql and run `make demo` again to see it.');
    }
    say(`\nIn all: ${await countInvocations(sim.root)} Dokku invocations.`);
    if (keep) {
      say(`\n--keep: the daemon keeps running (Ctrl-C stops it); state in ${work}, simulator in ${sim.root}`);
      await new Promise<void>((r) => process.once('SIGINT', () => r()));
    }
  } finally {
    await web?.close();
    await daemon.stop(5_000);
    await database?.drop().catch((err: Error) => say(`could not drop the demo database: ${err.message}`));
    if (!keep) {
      await sim.destroy();
      await rm(work, { recursive: true, force: true });
    }
  }
  say('\nDemo done; containers and temporary files removed.');
}

/** otm web: sign-ins for a lab admin and an experimenter; the admin gives alice an instance, she restarts it. */
async function showWeb(config: Config, postgresUrl: string, daemon: Daemon, sim: SimRoot): Promise<WebHandle> {
  const web = await startWeb({ config, logger: pino({ level: 'error' }) });
  const pool = new pg.Pool({ connectionString: postgresUrl });
  const passwords = { bob: 'demo-bob-lab-admin', alice: 'demo-alice-experimenter' };
  try {
    const people = new PeopleStore({ pool, clock: systemClock, idleTimeoutMs: 3_600_000, absoluteTimeoutMs: 43_200_000 });
    for (const [name, password] of Object.entries(passwords)) await people.setPassword(name, password, { actor: 'demo', authMethod: 'local' });
  } finally {
    await pool.end();
  }
  say(`\n5. otm web, the web interface, on ${web.url}`);
  const bob = await signIn(web.url, 'bob', passwords.bob);
  const name = 'alice-web';
  const created = await bob(`/api/v1/instances/${name}`, {
    method: 'PUT',
    body: JSON.stringify({ apiVersion: 'otree-manager/v1', kind: 'OTreeInstance', metadata: { name }, spec: { owner: 'alice', otree: { adminPassword: { value: 'demo-otree-admin' } }, source: { image: { ref: STANDIN_IMAGE } } } }),
  });
  if (!created.ok) throw new Error(`the lab admin could not create ${name} in otm web: HTTP ${created.status} ${await created.text()}`);
  say(`   bob (lab admin) creates ${name} for alice in otm web; the daemon deploys it`);
  await waitUntil(`${name} to run`, daemon, (s) => s.find((x) => x.name === name)?.phase === 'Running' && settled([name])(s));
  const alice = await signIn(web.url, 'alice', passwords.alice);
  const mine = ((await (await alice('/api/v1/instances')).json()) as { items: { name: string }[] }).items.map((i) => i.name);
  say(`   alice signs in and sees only her own instances: ${mine.join(', ')}`);
  const before = await countInvocations(sim.root, 'config:set');
  await alice(`/api/v1/instances/${name}/restart`, { method: 'POST', body: '{}' });
  await waitUntil(`${name} to restart`, daemon, (s) => (s.find((x) => x.name === name)?.done.restart ?? 0) >= 1 && settled([name])(s));
  say(`   alice restarts ${name} from otm web: ${(await countInvocations(sim.root, 'config:set')) - before} restarting command, recorded in the audit log under her name`);
  say(`\n   Open ${web.url} and sign in as`);
  say(`     alice / ${passwords.alice}   (experimenter: her instances, restart, reset, password, freeze windows, rooms, the lobby)`);
  say(`     bob   / ${passwords.bob}   (lab admin: every instance, people, the audit log)`);
  if (!keep) say('   (run `make demo ARGS=--keep` to keep it running)');
  return web;
}

await main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  process.exitCode = 1;
});
