// nginx/otree-manager.conf in a real nginx on loopback. The site file is used as shipped except for what
// only an installation can know, substituted here: the listen ports (free loopback ports instead of 80 and
// 443), the certificate (a throwaway self-signed one) and the two upstream addresses (stub HTTP servers
// standing in for otm web and for the daemon). A catch-all server stands in for Dokku's own server blocks.
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
/** What the otm web stand-in sends as its own policy, to see that the site passes it on alone. */
const WEB_CSP = "default-src 'self'";
const MiB = 1024 * 1024;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
}

/** A stub upstream that records every request it sees and answers who it is. */
interface Upstream {
  server: http.Server;
  seen: Seen[];
}

let dir: string;
let nginx: ChildProcess;
let web: Upstream;
let daemon: Upstream;
let cert: string;
let ports: { http: number; https: number };

/** Streams waiting for the client's word that the first event arrived, by path. */
const firstEventArrived = new Map<string, Promise<void>>();
/** Requests still open, ended by `after` so that a failed test cannot keep nginx from quitting. */
const openRequests = new Set<http.ClientRequest>();

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

async function startUpstream(name: string, respond?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean): Promise<Upstream & { port: number }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => { bodyBytes += c.length; });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes });
      if (respond?.(req, res)) return;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ from: name, url: req.url }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, seen, port: (server.address() as AddressInfo).port };
}

/** otm web's stand-in: its own CSP on every answer, and server-sent events that wait for the client. */
function webResponder(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  res.setHeader('content-security-policy', WEB_CSP);
  const path = req.url ?? '';
  const arrived = firstEventArrived.get(path);
  if (!arrived) return false;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.write('data: first\n\n');
  // The last event is sent only once the client has the first: a buffering proxy holds the first back
  // until the response ends, so the two wait for each other and the test fails at its timeout.
  void arrived.then(() => res.end('data: last\n\n'));
  return true;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface RequestOptions {
  tls: boolean;
  path: string;
  method?: string;
  host?: string;
  from?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** A Content-Length sent without the body: nginx judges the size from the header alone. */
  declaredLength?: number;
}

function send(options: RequestOptions, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
  const length = options.body?.length ?? options.declaredLength;
  const common = {
    host: '127.0.0.1',
    port: options.tls ? ports.https : ports.http,
    path: options.path,
    method: options.method ?? 'GET',
    headers: {
      host: options.host ?? NAME, ...options.headers,
      ...(length !== undefined ? { 'content-type': 'application/octet-stream', 'content-length': length } : {}),
    },
    localAddress: options.from ?? '127.0.0.1',
    agent: false as const,
  };
  const req = options.tls ? https.request({ ...common, ca: cert, servername: options.host ?? NAME }, onResponse) : http.request(common, onResponse);
  openRequests.add(req);
  req.once('close', () => openRequests.delete(req));
  return req;
}

function request(options: RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = send(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
        if (options.declaredLength !== undefined) req.destroy();
      });
    });
    req.on('error', reject);
    if (options.declaredLength !== undefined) req.flushHeaders();
    else req.end(options.body);
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otm-nginx-'));
  // nginx's workers drop to an unprivileged user when started as root: they must reach the temp paths.
  await chmod(dir, 0o755);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${NAME}`, '-addext', `subjectAltName=DNS:${NAME},DNS:*.lab.example.org`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  cert = await readFile(join(dir, 'cert.pem'), 'utf8');

  const webStub = await startUpstream('web', webResponder);
  const daemonStub = await startUpstream('daemon');
  web = webStub;
  daemon = daemonStub;
  ports = { http: await freeLoopbackPort(), https: await freeLoopbackPort() };

  let site = await readFile(SITE, 'utf8');
  site = substitute(site, 'server 127.0.0.1:9281;', `server 127.0.0.1:${webStub.port};`);
  site = substitute(site, 'server 127.0.0.1:9280;', `server 127.0.0.1:${daemonStub.port};`);
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
  # Compression of event streams, as an admin's gzip_types might ask for: the site must still pass
  # them on as they come and uncompressed.
  gzip on;
  gzip_types text/event-stream application/json;
  gzip_min_length 1;
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
  web.seen.length = 0;
});

after(async () => {
  // Whatever a failed test left open is closed first, so that nginx can quit gracefully.
  for (const req of openRequests) req.destroy();
  for (const upstream of [web, daemon]) {
    upstream?.server.closeAllConnections();
    await new Promise((resolve) => upstream?.server.close(resolve));
  }
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx.once('exit', resolve));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

test('the site reaches otm web over TLS with the client\'s real address, the scheme and the name, and passes otm web\'s headers on alone', async () => {
  const api = await request({ tls: true, path: '/api/v1/instances?owner=alice', headers: { 'x-forwarded-for': '203.0.113.9' } });
  assert.equal(api.status, 200);
  assert.deepEqual(JSON.parse(api.body), { from: 'web', url: '/api/v1/instances?owner=alice' });
  const forwarded = web.seen.find((s) => s.url === '/api/v1/instances?owner=alice');
  assert.ok(forwarded);
  assert.equal(forwarded.headers.host, NAME);
  assert.equal(forwarded.headers['x-forwarded-proto'], 'https');
  // The address the client claimed is dropped: only the one nginx saw is forwarded.
  assert.equal(forwarded.headers['x-forwarded-for'], '127.0.0.1');
  // Security headers are otm web's: its policy arrives once and unchanged, and nginx adds none of its own.
  assert.equal(api.headers['content-security-policy'], WEB_CSP);
  for (const header of ['strict-transport-security', 'x-frame-options', 'x-content-type-options', 'referrer-policy']) {
    assert.equal(api.headers[header], undefined, header);
  }

  for (const path of ['/sign-in', '/', '/static/otm.css', '/healthz', '/api/v1/me']) {
    const reply = await request({ tls: true, path });
    assert.equal(reply.status, 200, path);
    assert.equal((JSON.parse(reply.body) as { from: string }).from, 'web', path);
  }
});

test('server-sent events arrive one by one: the first before otm web sends the last', { timeout: 15_000 }, async () => {
  for (const path of ['/events?view=dashboard', '/lobby/alice-pgg/lab/events', '/api/v1/events?instance=alice-pgg']) {
    let clientHasFirst!: () => void;
    firstEventArrived.set(path, new Promise((resolve) => { clientHasFirst = resolve; }));
    const chunks: string[] = [];
    const { status, type } = await new Promise<{ status: number; type: string | undefined }>((resolve, reject) => {
      const req = send({ tls: true, path, headers: { accept: 'text/event-stream', 'accept-encoding': 'gzip' } }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          chunks.push(chunk);
          if (chunk.includes('data: first')) clientHasFirst();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200, path);
    assert.equal(type, 'text/event-stream', path);
    assert.ok(!chunks[0]!.includes('data: last'), `${path}: the first chunk came alone, not with the last`);
    assert.equal(chunks.join(''), 'data: first\n\ndata: last\n\n', `${path}: uncompressed and complete`);
  }
});

test('the daemon\'s API is not on the site: its paths reach otm web, only /metrics reaches the daemon', async () => {
  for (const path of ['/api/v1/instances', '/api/v1/plan/alice-pgg', '/api/v1/audit', '/readyz', '/', '/metrics/', '/metrics/../api/v1/instances']) {
    const reply = await request({ tls: true, path, headers: { authorization: 'Bearer the-daemon-token' } });
    assert.equal((JSON.parse(reply.body) as { from: string }).from, 'web', path);
  }
  const put = await request({ tls: true, path: '/api/v1/experimenters/alice', method: 'PUT', body: Buffer.from('{}') });
  assert.equal((JSON.parse(put.body) as { from: string }).from, 'web');
  assert.deepEqual(daemon.seen, [], 'the daemon saw none of them');
});

test('/metrics reaches the daemon from the allowed addresses only, and as /metrics alone', async () => {
  const allowed = await request({ tls: true, path: '/metrics' });
  assert.equal(allowed.status, 200);
  assert.deepEqual(JSON.parse(allowed.body), { from: 'daemon', url: '/metrics' });
  // An encoded spelling of the path matches the same location and reaches the daemon as /metrics.
  const encoded = await request({ tls: true, path: '/%6detrics?name[]=otm_leader' });
  assert.deepEqual(JSON.parse(encoded.body), { from: 'daemon', url: '/metrics?name[]=otm_leader' });
  const count = daemon.seen.length;
  const denied = await request({ tls: true, path: '/metrics', from: '127.0.0.2' });
  assert.equal(denied.status, 403);
  assert.equal(daemon.seen.length, count, 'the denied request never reached the daemon');
  // The rest of the site is not restricted by address.
  assert.equal((await request({ tls: true, path: '/api/v1/instances', from: '127.0.0.2' })).status, 200);
});

// A limit above 64 MiB makes nginx wait for the declared body instead of answering: the timeout fails it.
test('request bodies over 1 MiB are refused with 413 before reaching otm web, except archive uploads up to 64 MiB', { timeout: 30_000 }, async () => {
  const small = Buffer.alloc(512 * 1024, 0x61);
  const ok = await request({ tls: true, path: '/api/v1/instances/alice-pgg', method: 'PUT', body: small });
  assert.equal(ok.status, 200);
  assert.equal(web.seen.find((s) => s.method === 'PUT' && s.url === '/api/v1/instances/alice-pgg')?.bodyBytes, small.length);

  const large = Buffer.alloc(2 * MiB, 0x61);
  const refused = await request({ tls: true, path: '/api/v1/instances/big', method: 'PUT', body: large });
  assert.equal(refused.status, 413);
  assert.equal(web.seen.some((s) => s.url === '/api/v1/instances/big'), false);

  const upload = await request({ tls: true, path: '/api/v1/instances/alice-pgg/archive', method: 'POST', body: large });
  assert.equal(upload.status, 200);
  assert.equal(web.seen.find((s) => s.url === '/api/v1/instances/alice-pgg/archive')?.bodyBytes, large.length);

  const tooLarge = await request({ tls: true, path: '/api/v1/instances/bob-pgg/archive', method: 'POST', declaredLength: 64 * MiB + 1 });
  assert.equal(tooLarge.status, 413);
  const atLimit = await request({ tls: true, path: '/api/v1/instances/bob-pgg/archive', method: 'POST', body: Buffer.alloc(64 * MiB, 0x61) });
  assert.equal(atLimit.status, 200);
  assert.equal(web.seen.find((s) => s.url === '/api/v1/instances/bob-pgg/archive')?.bodyBytes, 64 * MiB);
});

test('the secret of an invitation or reset link never reaches the access log; other requests do', async () => {
  const secret = 'Q2hvb3NlIGEgbmV3IHBhc3N3b3JkIGhlcmU';
  for (const path of [`/invite/${secret}`, `/reset/${secret}`]) assert.equal((await request({ tls: true, path })).status, 200, path);
  const marker = `/sign-in?after=${secret.slice(0, 8)}`;
  await request({ tls: true, path: marker });
  // The log line of the marker, sent last, is there: so would be those of the links had they been logged.
  let log = '';
  while (!log.includes(marker)) log = await readFile(join(dir, 'access.log'), 'utf8');
  assert.ok(!log.includes(secret), log);
});

test('plain HTTP is redirected to HTTPS on the same path', async () => {
  const reply = await request({ tls: false, path: '/api/v1/instances?owner=alice' });
  assert.equal(reply.status, 301);
  assert.equal(reply.headers.location, `https://${NAME}/api/v1/instances?owner=alice`);
});

test('other names, such as the instances under the base domain, are left to Dokku\'s server blocks', async () => {
  const count = web.seen.length + daemon.seen.length;
  for (const tls of [true, false]) {
    const reply = await request({ tls, path: '/', host: 'alice-pgg.lab.example.org' });
    assert.equal(reply.status, 418);
    assert.equal(reply.body, 'dokku app\n');
  }
  assert.equal(web.seen.length + daemon.seen.length, count, 'neither otm web nor the daemon saw any of them');
});
