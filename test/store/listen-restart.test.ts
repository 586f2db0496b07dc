// The LISTEN connection survives a PostgreSQL restart. The shared test server must not be restarted,
// so this file runs a private cluster of its own on a free loopback port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrate } from '../../src/store/migrate.js';
import { createPool } from '../../src/store/pool.js';
import { PostgresDesiredSource } from '../../src/desired/postgres.js';
import { DesiredStore } from '../../src/desired/store.js';
import { insertExperimenter, insertInstance, quietLog, startSource } from './source.js';
import { waitFor } from '../support/services.js';

const run = promisify(execFile);

async function postgresBin(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql')).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(a) - Number(b));
  const newest = versions.at(-1);
  if (!newest) throw new Error('no PostgreSQL server under /usr/lib/postgresql; install the postgresql package');
  return `/usr/lib/postgresql/${newest}/bin`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A throwaway cluster run by the postgres user (initdb refuses to run as root). */
class PrivateCluster {
  readonly data: string;
  readonly url: string;
  constructor(readonly dir: string, readonly bin: string, readonly port: number) {
    this.data = join(dir, 'data');
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  private asPostgres(command: string, args: string[]) {
    return run('runuser', ['-u', 'postgres', '--', join(this.bin, command), ...args]);
  }

  async init(): Promise<void> {
    await run('chown', ['postgres:postgres', this.dir]);
    await this.asPostgres('initdb', ['-D', this.data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  }

  /** `tcp: false` keeps loopback closed, so only the unix socket in `dir` reaches the server. */
  async start(tcp = true): Promise<void> {
    const options = `-c listen_addresses=${tcp ? '127.0.0.1' : "''"} -p ${this.port} -k ${this.dir} -c fsync=off`;
    await this.asPostgres('pg_ctl', ['-D', this.data, '-l', join(this.dir, 'postgres.log'), '-w', '-t', '60', '-o', options, 'start']);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.asPostgres('pg_ctl', ['-D', this.data, '-m', mode, '-w', 'stop']);
  }

  socketClient(): pg.Client {
    return new pg.Client({ host: this.dir, port: this.port, user: 'postgres', database: 'postgres' });
  }
}

let cluster: PrivateCluster;
before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'otm-pg-restart-'));
  cluster = new PrivateCluster(dir, await postgresBin(), await freePort());
  await cluster.init();
  await cluster.start();
});
after(async () => {
  await cluster.stop('immediate').catch(() => undefined);
  await rm(cluster.dir, { recursive: true, force: true });
});

test('the LISTEN connection reconnects after a PostgreSQL restart and relists what changed meanwhile', async () => {
  const pool = createPool(cluster.url, { onIdleError: () => undefined });
  await migrate(pool);
  await insertExperimenter(pool, 'grace');
  await insertExperimenter(pool, 'heidi');
  await insertInstance(pool, 'grace-lab', 'grace');

  const warnings: string[] = [];
  const running = await startSource(pool, cluster.url, { info: () => undefined, warn: (_fields, message) => warnings.push(message) });
  try {
    assert.equal(running.instance('grace-lab')?.spec.state, 'running');

    await cluster.stop('fast');
    await waitFor('the source notices the server is gone', () => (running.source.isListening() ? undefined : true));

    // Changed while the daemon cannot reach the server: no notification can reach it.
    await cluster.start(false);
    const admin = cluster.socketClient();
    await admin.connect();
    await admin.query(`UPDATE otm.instances SET spec = jsonb_set(spec, '{state}', '"stopped"'), updated_by = 'grace' WHERE name = 'grace-lab'`);
    await insertInstance(admin, 'heidi-lab', 'heidi');
    await admin.end();
    await cluster.stop('fast');
    assert.ok(!running.source.isListening());

    await cluster.start(true);
    await waitFor('the relist after reconnecting', () =>
      (running.instance('grace-lab')?.spec.state === 'stopped' && running.instance('heidi-lab') ? true : undefined), 30_000);
    await waitFor('listening again', () => (running.source.isListening() ? true : undefined));
    assert.ok(warnings.some((m) => /LISTEN connection lost/.test(m)));

    // And notifications flow again on the new connection.
    await pool.query(`UPDATE otm.instances SET deleted_at = now() WHERE name = 'heidi-lab'`);
    await waitFor('heidi-lab removed by NOTIFY', () => (running.instance('heidi-lab') ? undefined : true));
  } finally {
    await running.source.stop();
    await pool.end();
  }
});

test('a source started while PostgreSQL is down declares everything once it is up; stop() ends the wait', async () => {
  const pool = createPool(cluster.url, { onIdleError: () => undefined });
  await migrate(pool);
  await insertExperimenter(pool, 'ivan');
  await insertInstance(pool, 'ivan-lab', 'ivan', { state: 'stopped' });
  await cluster.stop('fast');
  const store = new DesiredStore();
  const source = new PostgresDesiredSource({ pool, url: cluster.url, log: quietLog, onChange: (updates) => store.apply(updates), backoff: { baseMs: 100, capMs: 400 } });
  const abandoned = new PostgresDesiredSource({ pool, url: cluster.url, log: quietLog, onChange: () => undefined, backoff: { baseMs: 100 } });
  try {
    const started = source.start();
    const waiting = abandoned.start();
    await abandoned.stop();
    await assert.rejects(waiting, /stopped before its first relist/);

    await cluster.start(true);
    await started;
    assert.equal(store.instance('ivan-lab')?.declared.object.spec.state, 'stopped');
    assert.ok(source.isListening());
  } finally {
    await source.stop();
    await abandoned.stop();
    await pool.end();
  }
});
