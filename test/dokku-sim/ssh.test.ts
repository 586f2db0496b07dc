// The simulator behind a real OpenSSH server with an sshcommand-style forced command: arguments are
// re-split the way Dokku does it (xargs quoting; plain word splitting for git commands) and the remote
// exit status reaches the client.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { newSimRoot, readSimState } from './client.js';
import type { SimRoot, SimResult } from './client.js';
import { startSshd } from '../support/sshd.js';
import type { SshdHandle } from '../support/sshd.js';

function ssh(server: SshdHandle, args: string[]): Promise<SimResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [...server.sshArgs, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('over ssh', () => {
  let sim: SimRoot;
  let server: SshdHandle;
  before(async () => {
    sim = await newSimRoot({ version: '0.38.27' });
    server = await startSshd({ env: sim.env });
  });
  after(async () => {
    await server.stop();
    await sim.destroy();
  });

  it('runs commands and forwards their exit status', async () => {
    assert.deepEqual(await ssh(server, ['version']), { code: 0, stdout: 'dokku version 0.38.27\n', stderr: '' });
    assert.equal((await ssh(server, ['--quiet', 'apps:create', 'myapp'])).code, 0);
    const missing = await ssh(server, ['apps:exists', 'ghost']);
    assert.deepEqual([missing.code, missing.stderr], [20, ' !     App ghost does not exist\n']);
  });

  it('re-splits the command line with xargs quoting rules', async () => {
    // ssh joins argv with spaces; the quotes travel inside the words, as a client's shell-quoting would send them.
    const r = await ssh(server, ['config:set', '--no-restart', 'myapp', "'A=hello world'", 'B=x\\ y', '"C=it\'s"', "'D=a'\\''b'", "E=''"]);
    assert.equal(r.code, 0, r.stderr);
    const config = (await readSimState(sim.root)).apps.myapp!.config;
    assert.deepEqual([config.A, config.B, config.C, config.D, config.E], ['hello world', 'x y', "it's", "a'b", '']);
    const noExpansion = await ssh(server, ['config:set', '--no-restart', 'myapp', "'F=$HOME *'"]);
    assert.equal(noExpansion.code, 0);
    assert.equal((await readSimState(sim.root)).apps.myapp!.config.F, '$HOME *');
  });

  it('a newline inside quotes breaks xargs: the rest of the arguments are dropped', async () => {
    const r = await ssh(server, ['config:set', '--no-restart', 'myapp', 'G=1', "'H=two\nlines'", 'I=3']);
    assert.match(r.stderr, /xargs: unmatched single quote/);
    const config = (await readSimState(sim.root)).apps.myapp!.config;
    assert.equal(config.G, '1');
    assert.equal(config.H, undefined);
    assert.equal(config.I, undefined);
  });

  it('git commands get plain word splitting: quotes are not removed', async () => {
    const r = await ssh(server, ['git:sync', 'myapp', "'https://example.org/otree.git'"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n')[0], "-----> Cloning myapp from 'https://example.org/otree.git'");
  });

  it('dokku-acl refuses changes from ssh callers (sshcommand sets NAME)', async () => {
    const r = await ssh(server, ['acl:add', 'myapp', 'alice']);
    assert.deepEqual([r.code, r.stderr], [1, ' !     You can only modify ACL using local dokku command on target host\n']);
    assert.equal((await sim.run(['acl:add', 'myapp', 'alice'])).code, 0, 'a local call may');
  });
});
