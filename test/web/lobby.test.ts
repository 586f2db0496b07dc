// The public lobby over real HTTP against real PostgreSQL, with a fake clock: the seat grid and its
// event stream, a seat's page and "I am ready" (stored state, the exact oTree room URL), the pages for
// unknown instances, rooms and labels, for an instance that is not running and for a lobby turned off
// (spec.lobby.enabled), the rate limits, the kiosk shortcut zips (unzipped by another library, modes
// read back, the Linux script run against a stand-in browser), the seat cards (one QR code per seat,
// decoded back to the seat's address) and the staff's seat reset.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { PNG } from 'pngjs';
import yauzl from 'yauzl';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { DesiredStore } from '../../src/desired/store.js';
import { FakeClock } from '../../src/engine/clock.js';
import type { InstanceStatus } from '../../src/engine/status.js';
import { PgStatusStore } from '../../src/engine/status-pg.js';
import { parseManifests } from '../../src/manifest/index.js';
import { LISTEN_APPLICATION, registerLobbyRoutes } from '../../src/web/lobby.js';
import { PeopleStore } from '../../src/web/people.js';
import { createWebServer } from '../../src/web/server.js';
import type { WebServer } from '../../src/web/server.js';
import { useMigratedDatabase } from '../store/database.js';

// jsqr's types declare an ES default export, but the package is CommonJS whose module.exports is the function.
const jsQR = createRequire(import.meta.url)('jsqr') as (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;

const db = useMigratedDatabase();
const MINUTE = 60_000;
const START = Date.parse('2030-03-01T08:00:00Z');
const PASSWORD = 'correct horse battery staple';
const PUBLIC = 'https://otm.lab.example.org';
const BURST = 30;
const STREAMS_PER_ADDRESS = 2;
const KEEP_ALIVE_MS = 25_000;
/** Only so that a stream that never delivers fails the test instead of hanging it; no assertion depends on time. */
const STREAM_TIMEOUT_MS = 20_000;

const manifests = (quietLobby: boolean) => `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: root }
spec: { displayName: Lab Admin, role: admin }
---
apiVersion: otree-manager/v1
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
metadata: { name: pgg }
spec:
  owner: alice
  otree: { adminPassword: { fromEnv: PW } }
  rooms:
    - { name: lab, displayName: Economics Lab, participantLabels: [seat01, seat02, seat03, events] }
    - { name: spare, displayName: Spare Room, participantLabels: [a1] }
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: quiet }
spec:
  owner: alice
  otree: { adminPassword: { fromEnv: PW } }
  lobby: { enabled: ${!quietLobby} }
  rooms: [{ name: lab, displayName: Lab, participantLabels: [q1] }]
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: sleepy }
spec:
  owner: alice
  otree: { adminPassword: { fromEnv: PW } }
  rooms: [{ name: lab, displayName: Lab, participantLabels: [z1] }]
`;

function statusOf(name: string, phase: InstanceStatus['phase'], ready: boolean): InstanceStatus {
  return {
    name, host: 'local', phase, observedGeneration: 1, urls: [`https://${name}.lab.example.org`], deferred: [], done: { resetDatabase: 0, restart: 0 },
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'Running' : 'Stopped', message: '', lastTransitionTime: new Date(START).toISOString() }],
    updatedAt: new Date(START).toISOString(),
  };
}

let work: string;
let config: Config;
let clock: FakeClock;
let desired: DesiredStore;
let server: WebServer;
let base: string;
let addresses = 0;

/** A client address of its own for each caller (otm web believes X-Forwarded-For from loopback), so rate limits never mix. */
function newAddress(): string {
  addresses += 1;
  return `198.51.100.${addresses}`;
}

interface Answer { status: number; headers: Headers; text: string; body: Buffer }

async function call(method: string, url: string, options: { address: string; jar?: Map<string, string>; form?: Record<string, string> }): Promise<Answer> {
  const headers: Record<string, string> = { 'x-forwarded-for': options.address };
  if (options.jar && options.jar.size > 0) headers.cookie = [...options.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  let body: string | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  const response = await fetch(`${base}${url}`, { method, headers, body, redirect: 'manual' });
  for (const cookie of response.headers.getSetCookie()) {
    const [pair] = cookie.split(';');
    const [name, ...value] = pair!.split('=');
    options.jar?.set(name!, value.join('='));
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, text: bytes.toString('utf8'), body: bytes };
}

const csrfIn = (page: string): string => {
  const token = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(token, 'the page carries a CSRF token');
  return token;
};

async function signIn(name: string): Promise<{ jar: Map<string, string>; address: string }> {
  const jar = new Map<string, string>();
  const address = newAddress();
  const page = await call('GET', '/sign-in', { jar, address });
  const answer = await call('POST', '/sign-in', { jar, address, form: { _csrf: csrfIn(page.text), name, password: PASSWORD, returnTo: '/' } });
  assert.equal(answer.status, 303);
  return { jar, address };
}

async function seatRows(instance = 'pgg', room = 'lab'): Promise<Record<string, string>> {
  const { rows } = await db.pool.query<{ label: string; state: string }>('SELECT label, state FROM otm.lobby_seats WHERE instance = $1 AND room = $2', [instance, room]);
  return Object.fromEntries(rows.map((row) => [row.label, row.state]));
}

/** The state each seat of a grid (page or live part) shows, by label. */
function gridStates(html: string): Record<string, string> {
  return Object.fromEntries([...html.matchAll(/data-seat="([^"]+)" data-state="([^"]+)"/g)].map((m) => [m[1]!, m[2]!]));
}

/** An open event stream: its answer, and its messages one at a time. */
interface EventStream { status: number; headers: Headers; next(): Promise<string>; parts(): Promise<Record<string, string>>; close(): void }

async function openStream(url: string, address: string): Promise<EventStream> {
  const controller = new AbortController();
  const response = await fetch(`${base}${url}`, { headers: { 'x-forwarded-for': address, accept: 'text/event-stream' }, signal: controller.signal });
  const close = () => controller.abort();
  if (!response.ok || !response.body) {
    await response.text();
    return { status: response.status, headers: response.headers, next: () => Promise.reject(new Error('no stream')), parts: () => Promise.reject(new Error('no stream')), close };
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const next = async (): Promise<string> => {
    while (!buffer.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended');
      buffer += decoder.decode(value, { stream: true });
    }
    const end = buffer.indexOf('\n\n');
    const message = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    return message;
  };
  const parts = async (): Promise<Record<string, string>> => {
    for (;;) {
      const message = await next();
      if (message.startsWith(':')) continue;
      const lines = message.split('\n');
      assert.equal(lines[0], 'event: parts');
      const data = lines[1] ?? '';
      assert.ok(data.startsWith('data: '), message);
      return JSON.parse(data.slice('data: '.length)) as Record<string, string>;
    }
  };
  return { status: response.status, headers: response.headers, next, parts, close };
}

/** Entries of a zip as another library (yauzl) reads them: name, unix mode, text. */
async function unzip(bytes: Buffer): Promise<{ name: string; mode: number; text: string }[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const entries: { name: string; mode: number; text: string }[] = [];
      zip.on('error', reject);
      zip.on('end', () => resolve(entries));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (error, stream) => {
          if (error) return reject(error);
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => {
            entries.push({ name: entry.fileName, mode: (entry.externalFileAttributes >>> 16) & 0o7777, text: Buffer.concat(chunks).toString('utf8') });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

describe('the lobby', () => {
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'otm-lobby-'));
    const configFile = path.join(work, 'otm.yaml');
    await writeFile(configFile, [`postgresUrl: ${db.url}`, 'baseDomain: lab.example.org', `manifestsDir: ${work}`, `web: { publicUrl: "${PUBLIC}" }`].join('\n'));
    ({ config } = await loadConfig({ path: configFile }));
    clock = new FakeClock(START);
    desired = new DesiredStore({ baseDomain: 'lab.example.org' });
    desired.apply([{ source: 'lab.yaml', snapshot: parseManifests(manifests(true), 'lab.yaml') }]);
    const people = new PeopleStore({ pool: db.pool, clock, idleTimeoutMs: 120 * MINUTE, absoluteTimeoutMs: 12 * 60 * MINUTE });
    for (const person of ['root', 'alice', 'bob']) await people.setPassword(person, PASSWORD, { actor: 'test', authMethod: 'local' });
    const status = new PgStatusStore(db.pool);
    await status.put(statusOf('pgg', 'Running', true));
    await status.put(statusOf('quiet', 'Running', true));
    await status.put(statusOf('sleepy', 'Stopped', false));
    server = createWebServer({
      config, people, clock, log: pino({ level: 'silent' }), desired,
      status: () => status, rows: () => undefined, plans: () => undefined,
      parts: [(app, ctx) => registerLobbyRoutes(app, ctx, { pool: db.pool, limits: { burst: BURST, perSecond: 1, streamsPerAddress: STREAMS_PER_ADDRESS, keepAliveMs: KEEP_ALIVE_MS } })],
    });
    base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await server?.app.close();
    await rm(work, { recursive: true, force: true });
  });

  test('the grid lists every seat of the room, each linking to its page, with the live stream named', async () => {
    const page = await call('GET', '/lobby/pgg/lab', { address: newAddress() });
    assert.equal(page.status, 200);
    assert.match(page.text, /<h1>Economics Lab<\/h1>/);
    assert.deepEqual(gridStates(page.text), { seat01: 'none', seat02: 'none', seat03: 'none', events: 'none' });
    assert.match(page.text, /href="\/lobby\/pgg\/lab\/seat01"/);
    // A label that is also a fixed word of the lobby's addresses has its page under seat/.
    assert.match(page.text, /href="\/lobby\/pgg\/lab\/seat\/events"/);
    assert.match(page.text, /data-live-src="\/lobby\/pgg\/lab\/events"/);
    assert.match(page.text, /data-live="seats"/);
    assert.doesNotMatch(page.text, /href="\/profile"/, 'no staff navigation on a public page');
    assert.match(page.text, /<main id="main"/);
  });

  test('opening a seat and "I am ready" change the stored state, the grid and the live stream; the redirect is the exact oTree room URL', { timeout: STREAM_TIMEOUT_MS }, async () => {
    const watcher = newAddress();
    const stream = await openStream('/lobby/pgg/lab/events', watcher);
    try {
      assert.equal(stream.status, 200);
      assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(stream.headers.get('x-accel-buffering'), 'no');
      assert.equal(gridStates((await stream.parts()).seats!).seat01, 'none');

      const jar = new Map<string, string>();
      const participant = newAddress();
      const seat = await call('GET', '/lobby/pgg/lab/seat01', { jar, address: participant });
      assert.equal(seat.status, 200);
      assert.match(seat.text, /Seat seat01/);
      assert.match(seat.text, /<form method="post" action="\/lobby\/pgg\/lab\/seat01">/);
      assert.deepEqual(await seatRows(), { seat01: 'opened' });
      assert.equal(gridStates((await stream.parts()).seats!).seat01, 'opened');

      const ready = await call('POST', '/lobby/pgg/lab/seat01', { jar, address: participant, form: { _csrf: csrfIn(seat.text) } });
      assert.equal(ready.status, 303);
      assert.equal(ready.headers.get('location'), 'https://pgg.lab.example.org/room/lab/?participant_label=seat01');
      assert.deepEqual(await seatRows(), { seat01: 'ready' });
      const live = gridStates((await stream.parts()).seats!);
      assert.deepEqual(live, { seat01: 'ready', seat02: 'none', seat03: 'none', events: 'none' });

      // Opening the page again (a reload, the back button) does not make a seated participant look gone.
      assert.equal((await call('GET', '/lobby/pgg/lab/seat01', { jar, address: participant })).status, 200);
      assert.deepEqual(await seatRows(), { seat01: 'ready' });
      const grid = await call('GET', '/lobby/pgg/lab', { address: newAddress() });
      assert.equal(gridStates(grid.text).seat01, 'ready');
      assert.match(grid.text, /1 of 4 ready/);

      // Idle streams carry a comment at the keep-alive interval of the clock.
      clock.advance(KEEP_ALIVE_MS);
      assert.equal(await stream.next(), ': keep-alive');
    } finally {
      stream.close();
    }
  });

  test('when the LISTEN connection is lost, the lobby reconnects (on the clock), refreshes its grids and streams changes again', { timeout: STREAM_TIMEOUT_MS }, async () => {
    const stream = await openStream('/lobby/pgg/spare/events', newAddress());
    try {
      assert.equal(gridStates((await stream.parts()).seats!).a1, 'none');
      const { rows } = await db.pool.query('SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [LISTEN_APPLICATION]);
      assert.deepEqual(rows.map((row) => row.ended), [true]);
      // The reconnect waits on the fake clock: move it on until the refresh that follows a reconnect arrives.
      let refreshed = false;
      const refresh = stream.parts().then((parts) => { refreshed = true; return parts; });
      for (let i = 0; i < 400 && !refreshed; i++) {
        clock.advance(1000);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(gridStates((await refresh).seats!).a1, 'none');
      const { rows: listening } = await db.pool.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [LISTEN_APPLICATION]);
      assert.equal(listening[0].n, 1);
      await call('GET', '/lobby/pgg/spare/a1', { address: newAddress() });
      assert.equal(gridStates((await stream.parts()).seats!).a1, 'opened');
    } finally {
      stream.close();
      await db.pool.query("DELETE FROM otm.lobby_seats WHERE room = 'spare'");
    }
  });

  test('"I am ready" without the page\'s CSRF token changes nothing', async () => {
    const answer = await call('POST', '/lobby/pgg/spare/a1', { address: newAddress(), form: {} });
    assert.equal(answer.status, 403);
    assert.deepEqual(await seatRows('pgg', 'spare'), {});
  });

  test('a label that is also a fixed word works under seat/', async () => {
    const jar = new Map<string, string>();
    const address = newAddress();
    const seat = await call('GET', '/lobby/pgg/lab/seat/events', { jar, address });
    assert.equal(seat.status, 200);
    const ready = await call('POST', '/lobby/pgg/lab/seat/events', { jar, address, form: { _csrf: csrfIn(seat.text) } });
    assert.equal(ready.headers.get('location'), 'https://pgg.lab.example.org/room/lab/?participant_label=events');
    assert.equal((await seatRows()).events, 'ready');
  });

  test('unknown instances, rooms and labels get a 404 page that says which', async () => {
    const address = newAddress();
    const cases: [string, RegExp][] = [
      ['/lobby/nope/lab', /There is no lobby for &quot;nope&quot;/],
      ['/lobby/pgg/nope', /&quot;pgg&quot; has no room called &quot;nope&quot;/],
      ['/lobby/pgg/lab/seat99', /has no seat called &quot;seat99&quot;/],
      ['/lobby/pgg/lab/shortcuts/amiga.zip', /has no room called/],
      ['/lobby/nope/lab/events', /There is no lobby/],
    ];
    for (const [url, message] of cases) {
      const answer = await call('GET', url, { address });
      assert.equal(answer.status, 404, url);
      assert.match(answer.headers.get('content-type') ?? '', /^text\/html/, url);
      assert.match(answer.text, message, url);
    }
    const post = await call('POST', '/lobby/pgg/lab/seat99', { address, form: {} });
    assert.equal(post.status, 403, 'the CSRF check comes first; a forged post learns nothing');
    assert.deepEqual(Object.keys(await seatRows()).includes('seat99'), false);
  });

  test('an instance that is not running: 503 pages that say so, the seat page offers to try again, nothing is stored', async () => {
    const address = newAddress();
    const grid = await call('GET', '/lobby/sleepy/lab', { address });
    assert.equal(grid.status, 503);
    assert.match(grid.text, /is not running right now/);
    const seat = await call('GET', '/lobby/sleepy/lab/z1', { address });
    assert.equal(seat.status, 503);
    assert.ok(Number(seat.headers.get('retry-after')) > 0);
    assert.match(seat.text, /<a class="button" href="\/lobby\/sleepy\/lab\/z1">Try again<\/a>/);
    assert.deepEqual(await seatRows('sleepy', 'lab'), {});
  });

  test('spec.lobby.enabled: false turns every lobby address of the instance into a 404 page; true turns it back on', async () => {
    const admin = await signIn('root');
    const address = newAddress();
    for (const url of ['/lobby/quiet/lab', '/lobby/quiet/lab/q1', '/lobby/quiet/lab/events', '/lobby/quiet/lab/shortcuts/linux.zip']) {
      const answer = await call('GET', url, { address });
      assert.equal(answer.status, 404, url);
      assert.match(answer.text, /The lobby of &quot;quiet&quot; is turned off/, url);
    }
    const cards = await call('GET', '/lobby/quiet/lab/cards', { jar: admin.jar, address: admin.address });
    assert.equal(cards.status, 404);
    assert.match(cards.text, /turned off/);
    assert.deepEqual(await seatRows('quiet', 'lab'), {});

    desired.apply([{ source: 'lab.yaml', snapshot: parseManifests(manifests(false), 'lab.yaml') }]);
    try {
      assert.equal((await call('GET', '/lobby/quiet/lab/q1', { address })).status, 200);
      assert.deepEqual(await seatRows('quiet', 'lab'), { q1: 'opened' });
    } finally {
      desired.apply([{ source: 'lab.yaml', snapshot: parseManifests(manifests(true), 'lab.yaml') }]);
    }
    // The schema holds the field to its type; without it the lobby is on (pgg declares none).
    const wrong = parseManifests(manifests(true).replace('lobby: { enabled: false }', 'lobby: { enabled: maybe }'), 'lab.yaml');
    assert.ok(wrong.issues.some((issue) => issue.path === 'spec.lobby.enabled'), JSON.stringify(wrong.issues));
    assert.deepEqual(desired.instance('pgg')?.declared.object.spec.lobby, { enabled: true });
  });

  test('requests beyond the burst from one address to one instance get 429 with Retry-After and a page, until the bucket refills', async () => {
    const address = newAddress();
    for (let i = 0; i < BURST; i++) assert.equal((await call('GET', '/lobby/pgg/spare', { address })).status, 200, `request ${i + 1}`);
    const limited = await call('GET', '/lobby/pgg/spare/a1', { address });
    assert.equal(limited.status, 429);
    const wait = Number(limited.headers.get('retry-after'));
    assert.ok(wait >= 1);
    assert.match(limited.text, /too many requests to this lobby/);
    assert.deepEqual(await seatRows('pgg', 'spare'), {}, 'a refused request changes nothing');
    assert.equal((await call('GET', '/lobby/quiet/lab', { address })).status, 404, 'another instance has a bucket of its own');
    assert.equal((await call('GET', '/lobby/pgg/spare', { address: newAddress() })).status, 200, 'another address too');
    clock.advance(wait * 1000);
    assert.equal((await call('GET', '/lobby/pgg/spare', { address })).status, 200);
  });

  test('event streams per address are bounded, and a closed stream frees its place', { timeout: STREAM_TIMEOUT_MS }, async () => {
    const address = newAddress();
    const open = [await openStream('/lobby/pgg/spare/events', address), await openStream('/lobby/pgg/lab/events', address)];
    try {
      assert.deepEqual(open.map((s) => s.status), [200, 200]);
      await Promise.all(open.map((s) => s.parts()));
      const refused = await openStream('/lobby/pgg/spare/events', address);
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
      assert.equal((await openStream('/lobby/pgg/spare/events', newAddress())).status, 200, 'other addresses are not affected');
      open.shift()!.close();
      // The server notices the closed connection asynchronously; ask until it has (each ask is one request).
      let again: EventStream | undefined;
      for (let attempt = 0; attempt < 20 && again?.status !== 200; attempt++) {
        again = await openStream('/lobby/pgg/spare/events', address);
        if (again.status !== 200) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.equal(again?.status, 200);
      open.push(again!);
    } finally {
      for (const stream of open) stream.close();
    }
  });

  describe('kiosk shortcuts', () => {
    const seatUrl = (label: string) => `${PUBLIC}/lobby/pgg/lab/${label === 'events' ? 'seat/' : ''}${label}`;
    const labels = ['events', 'seat01', 'seat02', 'seat03'];

    test('windows.zip: one .bat per seat starting Chrome in kiosk mode, else Edge, on the seat\'s page', async () => {
      const answer = await call('GET', '/lobby/pgg/lab/shortcuts/windows.zip', { address: newAddress() });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get('content-type'), 'application/zip');
      assert.match(answer.headers.get('content-disposition') ?? '', /attachment; filename="pgg-lab-windows.zip"/);
      const entries = await unzip(answer.body);
      assert.deepEqual(entries.map((e) => e.name).sort(), labels.map((l) => `${l}.bat`));
      for (const entry of entries) {
        const label = entry.name.replace(/\.bat$/, '');
        assert.ok(entry.text.includes(`set "URL=${seatUrl(label)}"\r\n`), entry.text);
        assert.match(entry.text, /start "" "%CHROME%" --kiosk "%URL%"/);
        assert.match(entry.text, /start "" msedge --kiosk "%URL%"/);
      }
    });

    test('macos.zip: one executable .command per seat opening Google Chrome in kiosk mode', async () => {
      const entries = await unzip((await call('GET', '/lobby/pgg/lab/shortcuts/macos.zip', { address: newAddress() })).body);
      assert.deepEqual(entries.map((e) => e.name).sort(), labels.map((l) => `${l}.command`));
      for (const entry of entries) {
        assert.equal(entry.mode, 0o755, entry.name);
        assert.ok(entry.text.startsWith('#!/bin/sh\n'));
        assert.ok(entry.text.includes(`URL='${seatUrl(entry.name.replace(/\.command$/, ''))}'\n`), entry.text);
        assert.match(entry.text, /open -na "Google Chrome" --args --kiosk --no-first-run "\$URL"/);
      }
    });

    test('linux.zip: one executable .sh per seat that starts the first browser it finds in kiosk mode on the seat\'s page', async () => {
      const entries = await unzip((await call('GET', '/lobby/pgg/lab/shortcuts/linux.zip', { address: newAddress() })).body);
      assert.deepEqual(entries.map((e) => e.name).sort(), labels.map((l) => `${l}.sh`));
      assert.deepEqual(entries.map((e) => e.mode), entries.map(() => 0o755));
      // Run one against a stand-in google-chrome (no chromium on this PATH) that records its arguments.
      const dir = await mkdtemp(path.join(tmpdir(), 'otm-kiosk-'));
      try {
        const script = path.join(dir, 'seat02.sh');
        await writeFile(script, entries.find((e) => e.name === 'seat02.sh')!.text, { mode: 0o755 });
        const bin = path.join(dir, 'bin');
        await mkdir(bin);
        await writeFile(path.join(bin, 'google-chrome'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args"\n`);
        await chmod(path.join(bin, 'google-chrome'), 0o755);
        // The script needs only the shell's builtins: PATH holds the stand-in alone, whatever browsers this machine has.
        await promisify(execFile)(script, [], { env: { PATH: bin } });
        assert.deepEqual((await readFile(path.join(dir, 'args'), 'utf8')).trim().split('\n'), ['--kiosk', '--no-first-run', seatUrl('seat02')]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      // The address in the files is the seat's page, and it answers.
      assert.equal((await call('GET', new URL(seatUrl('seat02')).pathname, { address: newAddress() })).status, 200);
    });
  });

  describe('seat cards and the staff\'s reset', () => {
    test('the cards page needs a sign-in and the right to read the instance', async () => {
      const anonymous = await call('GET', '/lobby/pgg/lab/cards', { address: newAddress() });
      assert.equal(anonymous.status, 303);
      assert.equal(anonymous.headers.get('location'), `/sign-in?returnTo=${encodeURIComponent('/lobby/pgg/lab/cards')}`);
      const bob = await signIn('bob');
      const stranger = await call('GET', '/lobby/pgg/lab/cards', { jar: bob.jar, address: bob.address });
      assert.equal(stranger.status, 404);
    });

    test('one card per seat with its label, the room and a QR code that decodes to the seat\'s page', async () => {
      const alice = await signIn('alice');
      const page = await call('GET', '/lobby/pgg/lab/cards', { jar: alice.jar, address: alice.address });
      assert.equal(page.status, 200);
      assert.match(page.text, /href="\/profile"/, 'the staff navigation is shown');
      const images = [...page.text.matchAll(/<img src="data:image\/png;base64,([^"]+)" alt="QR code of the seat page ([^"]+)"/g)];
      assert.equal(images.length, 4);
      assert.deepEqual(images.map((m) => m[2]), ['seat01', 'seat02', 'seat03', 'seat/events'].map((l) => `${PUBLIC}/lobby/pgg/lab/${l}`));
      assert.equal((page.text.match(/class="seat-card"/g) ?? []).length, 4);
      assert.match(page.text, /Seat seat02<\/p>\s*<p class="seat-card-room">Room Economics Lab<\/p>/);
      const png = PNG.sync.read(Buffer.from(images[1]![1]!, 'base64'));
      assert.equal(jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data, `${PUBLIC}/lobby/pgg/lab/seat02`);
      for (const os of ['windows', 'macos', 'linux']) assert.match(page.text, new RegExp(`href="/lobby/pgg/lab/shortcuts/${os}.zip"`));
    });

    test('"Reset the seats" clears the room for its owner, is audited, and is refused to strangers', async () => {
      const address = newAddress();
      for (const label of ['seat02', 'seat03']) await call('GET', `/lobby/pgg/lab/${label}`, { address });
      assert.notDeepEqual(await seatRows(), {});
      await call('GET', '/lobby/pgg/spare/a1', { address });

      const bob = await signIn('bob');
      const bobPage = await call('GET', '/sign-in', { jar: bob.jar, address: bob.address });
      const refused = await call('POST', '/lobby/pgg/lab/reset-seats', { jar: bob.jar, address: bob.address, form: { _csrf: csrfIn(bobPage.text) } });
      assert.equal(refused.status, 404);
      assert.notDeepEqual(await seatRows(), {});

      const alice = await signIn('alice');
      const cards = await call('GET', '/lobby/pgg/lab/cards', { jar: alice.jar, address: alice.address });
      const reset = await call('POST', '/lobby/pgg/lab/reset-seats', { jar: alice.jar, address: alice.address, form: { _csrf: csrfIn(cards.text) } });
      assert.equal(reset.status, 303);
      assert.equal(reset.headers.get('location'), '/lobby/pgg/lab/cards?reset=done');
      assert.deepEqual(await seatRows(), {});
      assert.deepEqual(await seatRows('pgg', 'spare'), { a1: 'opened' }, 'other rooms keep their seats');
      const { rows } = await db.pool.query("SELECT actor, details FROM otm.audit_log WHERE action = 'lobby.reset'");
      assert.equal(rows.length, 1);
      assert.equal(rows[0].actor, 'alice');
      assert.equal(rows[0].details.room, 'lab');
      const after = await call('GET', '/lobby/pgg/lab/cards?reset=done', { jar: alice.jar, address: alice.address });
      assert.match(after.text, /The seats are reset/);
    });
  });
});
