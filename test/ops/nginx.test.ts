// nginx/otree-manager.conf in a real nginx on loopback. The site file is used as shipped except for what
// only an installation can know, substituted here: the listen ports (free loopback ports instead of 80 and
// 443), the certificate (a throwaway self-signed one) and the daemon's address (a stub HTTP server
// standing in for the daemon). A catch-all server stands in for Dokku's own server blocks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../support/services.js';

const run = promisify(execFile);
const SITE = fileURLToPath(new URL('../../nginx/otree-manager.conf', import.meta.url));
const NAME = 'manager.lab.example.org';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
}

let dir: string;
let nginx: ChildProcess;
let daemon: http.Server;
let cert: string;
let ports: { http: number; https: number };
const seen: Seen[] = [];

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Replaces `from` in the site text, failing if the shipped file no longer contains it. */
function substitute(text: string, from: string | RegExp, to: string): string {
  const replaced = text.replace(from, to);
  assert.notEqual(replaced, text, `nginx/otree-manager.conf no longer contains ${String(from)}`);
  return replaced;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(options: { tls: boolean; path: string; method?: string; host?: string; from?: string; body?: Buffer }): Promise<Reply> {
  const common = {
    host: '127.0.0.1',
    port: options.tls ? ports.https : ports.http,
    path: options.path,
    method: options.method ?? 'GET',
    headers: { host: options.host ?? NAME, ...(options.body ? { 'content-type': 'application/json', 'content-length': options.body.length } : {}) },
    localAddress: options.from ?? '127.0.0.1',
    agent: false as const,
  };
  return new Promise((resolve, reject) => {
    const done = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    };
    const req = options.tls ? https.request({ ...common, ca: cert, servername: options.host ?? NAME }, done) : http.request(common, done);
    req.on('error', reject);
    req.end(options.body);
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otm-nginx-'));
  // nginx's workers drop to an unprivileged user when started as root: they must reach the temp paths.
  await chmod(dir, 0o755);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${NAME}`, '-addext', `subjectAltName=DNS:${NAME},DNS:*.lab.example.org`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  cert = await readFile(join(dir, 'cert.pem'), 'utf8');

  daemon = http.createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => { bodyBytes += c.length; });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ from: 'daemon', url: req.url }));
    });
  });
  await new Promise<void>((resolve) => daemon.listen(0, '127.0.0.1', resolve));
  const daemonPort = (daemon.address() as AddressInfo).port;
  ports = { http: await freeLoopbackPort(), https: await freeLoopbackPort() };

  let site = await readFile(SITE, 'utf8');
  site = substitute(site, 'server 127.0.0.1:9280;', `server 127.0.0.1:${daemonPort};`);
  site = substitute(site, /^\s*listen 80;$/m, `    listen 127.0.0.1:${ports.http};`);
  site = substitute(site, /^\s*listen 443 ssl http2;$/m, `    listen 127.0.0.1:${ports.https} ssl http2;`);
  site = substitute(site, /^\s*listen \[::\]:80;\n/m, '');
  site = substitute(site, /^\s*listen \[::\]:443 ssl http2;\n/m, '');
  site = substitute(site, '/etc/otree-manager/tls/fullchain.pem', join(dir, 'cert.pem'));
  site = substitute(site, '/etc/otree-manager/tls/privkey.pem', join(dir, 'key.pem'));
  await writeFile(join(dir, 'otree-manager.conf'), site);

  await writeFile(join(dir, 'nginx.conf'), `
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # Stands in for the server blocks Dokku writes for its apps.
  server {
    listen 127.0.0.1:${ports.http} default_server;
    listen 127.0.0.1:${ports.https} ssl default_server;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    server_name _;
    return 418 "dokku app\\n";
  }
  include ${dir}/otree-manager.conf;
}
`);
  const check = await run('/usr/sbin/nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')]).catch((err: { stderr: string }) => assert.fail(`nginx -t rejected the site:\n${err.stderr}`));
  assert.ok(check);
  nginx = spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); });
  await waitFor('nginx to answer', async () => {
    if (nginx.exitCode !== null) throw new Error(`nginx exited with ${nginx.exitCode}: ${stderr}`);
    return (await request({ tls: true, path: '/healthz' })).status === 200 ? true : undefined;
  });
  seen.length = 0;
});

after(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx.once('exit', resolve));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await new Promise((resolve) => daemon?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

test('API and health requests reach the daemon over TLS, with forwarding headers and security headers', async () => {
  const api = await request({ tls: true, path: '/api/v1/instances?owner=alice' });
  assert.equal(api.status, 200);
  assert.deepEqual(JSON.parse(api.body), { from: 'daemon', url: '/api/v1/instances?owner=alice' });
  assert.equal(api.headers['strict-transport-security'], 'max-age=63072000');
  assert.equal(api.headers['x-content-type-options'], 'nosniff');
  assert.equal(api.headers['x-frame-options'], 'DENY');
  const forwarded = seen.find((s) => s.url === '/api/v1/instances?owner=alice');
  assert.ok(forwarded);
  assert.equal(forwarded.headers.host, NAME);
  assert.equal(forwarded.headers['x-forwarded-proto'], 'https');
  assert.equal(forwarded.headers['x-forwarded-for'], '127.0.0.1');

  const health = await request({ tls: true, path: '/healthz' });
  assert.equal(health.status, 200);
  assert.ok(seen.some((s) => s.url === '/healthz'));
});

test('/metrics answers only the allowed addresses', async () => {
  const allowed = await request({ tls: true, path: '/metrics' });
  assert.equal(allowed.status, 200);
  const before = seen.filter((s) => s.url === '/metrics').length;
  const denied = await request({ tls: true, path: '/metrics', from: '127.0.0.2' });
  assert.equal(denied.status, 403);
  assert.equal(seen.filter((s) => s.url === '/metrics').length, before, 'the denied request never reached the daemon');
  // The rest of the site is not restricted by address.
  assert.equal((await request({ tls: true, path: '/api/v1/instances', from: '127.0.0.2' })).status, 200);
});

test('request bodies over 1 MiB are refused with 413 before reaching the daemon; smaller ones pass whole', async () => {
  const small = Buffer.alloc(512 * 1024, 0x61);
  const ok = await request({ tls: true, path: '/api/v1/instances', method: 'POST', body: small });
  assert.equal(ok.status, 200);
  assert.equal(seen.find((s) => s.method === 'POST')?.bodyBytes, small.length);

  const large = Buffer.alloc(2 * 1024 * 1024, 0x61);
  const refused = await request({ tls: true, path: '/api/v1/instances/big', method: 'POST', body: large });
  assert.equal(refused.status, 413);
  assert.equal(seen.some((s) => s.url === '/api/v1/instances/big'), false);
});

test('plain HTTP is redirected to HTTPS on the same path', async () => {
  const reply = await request({ tls: false, path: '/api/v1/instances?owner=alice' });
  assert.equal(reply.status, 301);
  assert.equal(reply.headers.location, `https://${NAME}/api/v1/instances?owner=alice`);
});

test('other names, such as the instances under the base domain, are left to Dokku\'s server blocks', async () => {
  const count = seen.length;
  for (const tls of [true, false]) {
    const reply = await request({ tls, path: '/', host: 'alice-pgg.lab.example.org' });
    assert.equal(reply.status, 418);
    assert.equal(reply.body, 'dokku app\n');
  }
  assert.equal(seen.length, count, 'the daemon saw none of them');
});
