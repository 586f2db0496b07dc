// One Dokku host as the controller sees it: commands go out through a transport, failures come back
// as classified DokkuErrors, and observe() turns Dokku's reports into a normalised ObservedHost.
//
// observe() reads in bulk: a report without an app name covers every app (the text layout names each
// app in its header), so for N apps, S services and M apps read in detail it makes
//   1 apps:list + 4 reports (apps, ps, domains, resource) + 2 service lists + S service :info
//   + 1 letsencrypt:list + 1 ssh-keys:list + 2·M (config:export, ps:scale) + A acl:list
// invocations (A = managed apps, only where the acl plugin answers), plus `dokku version` once per
// driver. Config and scale have no bulk form in Dokku; `detail` limits them to the apps that matter,
// and `serviceDetail` limits the S service reads to the services the caller does not know yet.
import { render } from '../reconcile/commands.js';
import type { DokkuCommand, RenderedCommand, ServicePlugin } from '../reconcile/commands.js';
import { DokkuError, toDokkuError } from './errors.js';
import type { DokkuErrorKind } from './errors.js';
import { parseJsonReport, parseTextReports, pick } from './parse/report.js';
import type { Report } from './parse/report.js';
import {
  parseAppsListJson, parseConfigExport, parseLetsencryptList, parseNameList, parsePsScale, parseSshKeys,
} from './parse/lists.js';
import type { LetsencryptEntry } from './parse/lists.js';
import { UnsendableArgumentError } from './ssh.js';
import type { ExecResult, Transport } from './transport.js';
import type { Readable } from 'node:stream';
import type { DokkuVersion, ObservedApp, ObservedHost, ObservedService, ProcessStatus } from './types.js';
import { capabilities, parseVersion } from './version.js';
import type { Capabilities } from './version.js';

export interface CommandEvent {
  host: string;
  /** Metrics-safe subcommand name. */
  name: string;
  durationMs: number;
  outcome: 'ok' | DokkuErrorKind;
}

export interface DokkuDriverOptions {
  /** The host's name in the daemon's configuration (used in messages and events). */
  host: string;
  transport: Transport;
  /** Time limit for reads and quick mutations (default 2 minutes). */
  timeoutMs?: number;
  /** Time limit for commands that build, deploy or restart (default 30 minutes). */
  disruptiveTimeoutMs?: number;
  /** Per-app reads run this many at a time (default 4). */
  concurrency?: number;
  onCommand?: (event: CommandEvent) => void;
}

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Stream stdout into this file instead of memory (postgres:export); the result's stdout is empty. */
  outputFile?: string;
  /** Standard input for a command that reads a stream (`git:from-archive:stdin`); required by those, refused by others. */
  stdin?: Readable | Buffer;
}

export interface ObserveOptions {
  /** Which apps get their per-app reads (config, scale, acl); default all. Others are `partial`. */
  detail?: (app: string) => boolean;
  /**
   * Which services get their `<plugin>:info` read (status and links); default all. The others come back
   * with an empty status and no links, for a caller that already knows them (the cache's shallow read).
   */
  serviceDetail?: (plugin: ServicePlugin, name: string) => boolean;
  /** Config key that marks an app as managed; acl is read for managed apps only (default OTM_MANAGED). */
  managedMarker?: string;
  signal?: AbortSignal;
}

const NO_APPS = /You haven't deployed any applications yet/;
const NO_SSH_KEYS = /No public keys found/;
/** A placeholder domain for emptying an app's domains on Dokku < 0.36 (set it, then remove it). */
const CLEARING_DOMAIN = 'otm-clearing.invalid';

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function unixToIso(seconds: string | undefined): string | undefined {
  if (!seconds || !/^\d+$/.test(seconds)) return undefined;
  return new Date(Number(seconds) * 1000).toISOString();
}

function processStatus(report: Report | undefined): ProcessStatus {
  const running = pick(report, 'ps', 'running');
  if (running === 'true') return 'running';
  if (running === 'mixed') return 'mixed';
  const containers = Object.entries(report ?? {}).filter(([key]) => key.startsWith('status-')).map(([, v]) => v);
  if (containers.length > 0 && containers.every((v) => v.startsWith('missing'))) return 'missing';
  return 'stopped';
}

/** How often a read is tried when it fails for a passing reason. */
const READ_ATTEMPTS = 3;

export class DokkuDriver {
  readonly host: string;
  private readonly transport: Transport;
  private readonly timeoutMs: number;
  private readonly disruptiveTimeoutMs: number;
  private readonly concurrency: number;
  private readonly onCommand: ((event: CommandEvent) => void) | undefined;
  private versionRead: Promise<DokkuVersion> | undefined;

  constructor(options: DokkuDriverOptions) {
    this.host = options.host;
    this.transport = options.transport;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.disruptiveTimeoutMs = options.disruptiveTimeoutMs ?? 1_800_000;
    this.concurrency = options.concurrency ?? 4;
    this.onCommand = options.onCommand;
  }

  /** `dokku version`, read once per driver (a failed read is retried on the next call). */
  version(): Promise<DokkuVersion> {
    this.versionRead ??= this.run({ cmd: 'version' }).then((r) => parseVersion(r.stdout));
    this.versionRead.catch(() => { this.versionRead = undefined; });
    return this.versionRead;
  }

  async capabilities(): Promise<Capabilities> {
    return capabilities(await this.version());
  }

  /** Run one catalogue command; resolves with its output or throws a classified DokkuError. */
  async run(command: DokkuCommand, opts: RunOptions = {}): Promise<ExecResult> {
    if (command.cmd === 'domains:clear' && !(await this.capabilities()).domainsClearRemovesAll) {
      // Before 0.36 `domains:clear` resets to the global default domain; empty the list explicitly.
      await this.run({ cmd: 'domains:set', app: command.app, domains: [CLEARING_DOMAIN] }, opts);
      return this.run({ cmd: 'domains:remove', app: command.app, domains: [CLEARING_DOMAIN] }, opts);
    }
    const { result, error } = await this.attempt(render(command), opts);
    if (error) throw error;
    return result;
  }

  /**
   * Run one catalogue command and answer what it printed whether or not it succeeded (a build's output
   * is what its uploader needs most when it failed). Transport problems are failures too; never retried.
   */
  async runWithOutput(command: DokkuCommand, opts: RunOptions = {}): Promise<{ result: ExecResult; rendered: RenderedCommand; error?: DokkuError }> {
    const rendered = render(command);
    return { ...(await this.attemptOnce(rendered, opts)), rendered };
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /**
   * Run without throwing Dokku's failures (transport problems and timeouts are failures too). A read
   * that failed for a passing reason (a dropped connection, an unclassified hiccup) is tried again at
   * once: reads change nothing, and one lost call among the dozen an observation makes would otherwise
   * fail the whole observation. Timeouts are not repeated: they already took the whole time limit.
   */
  private async attempt(rendered: RenderedCommand, opts: RunOptions, expected?: (e: DokkuError) => boolean): Promise<{ result: ExecResult; error?: DokkuError }> {
    for (let tries = 1; ; tries++) {
      const outcome = await this.attemptOnce(rendered, opts);
      // An answer the caller expects ("no apps", "no keys") is not a hiccup: asking again changes nothing.
      const again = outcome.error?.retryable === true && outcome.error.kind !== 'Timeout' && outcome.error.kind !== 'DeployLocked'
        && !(expected?.(outcome.error) ?? false);
      if (!again || rendered.mutating || tries >= READ_ATTEMPTS || opts.signal?.aborted) return outcome;
    }
  }

  private async attemptOnce(rendered: RenderedCommand, opts: RunOptions): Promise<{ result: ExecResult; error?: DokkuError }> {
    if ((rendered.stdinStream ?? false) !== (opts.stdin !== undefined)) {
      throw new TypeError(rendered.stdinStream
        ? `\`${rendered.display}\` reads its archive on standard input and was given none`
        : `\`${rendered.display}\` takes no standard input stream`);
    }
    const stdin = opts.stdin ?? rendered.stdin;
    const execOpts = {
      timeoutMs: opts.timeoutMs ?? (rendered.disruptive ? this.disruptiveTimeoutMs : this.timeoutMs),
      ...(stdin !== undefined ? { stdin } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    let result: ExecResult;
    try {
      result = opts.outputFile
        ? await this.transport.execToFile(rendered.argv, opts.outputFile, execOpts)
        : await this.transport.exec(rendered.argv, execOpts);
    } catch (err) {
      if (!(err instanceof UnsendableArgumentError)) throw err;
      this.onCommand?.({ host: this.host, name: rendered.name, durationMs: 0, outcome: 'Usage' });
      throw new DokkuError('Usage', { dokkuMessage: err.message, exitCode: -1, command: rendered.display, host: this.host });
    }
    const error = toDokkuError(result, this.transport.kind, rendered, this.host);
    this.onCommand?.({ host: this.host, name: rendered.name, durationMs: result.durationMs, outcome: error ? error.kind : 'ok' });
    return error ? { result, error } : { result };
  }

  /** A read whose listed error kinds mean "nothing there" rather than failure. */
  private async read(command: DokkuCommand, tolerate: (e: DokkuError) => boolean, opts: RunOptions = {}): Promise<ExecResult | undefined> {
    const { result, error } = await this.attempt(render(command), opts, tolerate);
    if (!error) return result;
    if (tolerate(error)) return undefined;
    throw error;
  }

  private async appNames(caps: Capabilities, signal?: AbortSignal): Promise<string[]> {
    const r = await this.read({ cmd: 'apps:list', json: caps.appsListJson }, (e) => NO_APPS.test(e.dokkuMessage), { signal });
    if (!r) return [];
    return caps.appsListJson ? parseAppsListJson(r.stdout) : parseNameList(r.stdout);
  }

  /** One report for every app (text layout: each app has its own header). */
  private async bulkReport(cmd: 'apps:report' | 'ps:report' | 'domains:report' | 'resource:report', type: string, signal?: AbortSignal): Promise<Map<string, Report>> {
    const r = await this.read({ cmd }, (e) => NO_APPS.test(e.dokkuMessage), { signal });
    return r ? parseTextReports(r.stdout, type) : new Map();
  }

  /** One app's report: JSON where this version has it, otherwise the text layout. */
  private async appReport(cmd: 'apps:report' | 'ps:report' | 'domains:report' | 'resource:report', type: string, app: string, json: boolean, signal?: AbortSignal): Promise<Report> {
    const r = await this.run({ cmd, app, json }, { signal });
    return json ? parseJsonReport(r.stdout) : parseTextReports(r.stdout, type).get(app) ?? {};
  }

  private async services(plugin: ServicePlugin, detail: ObserveOptions['serviceDetail'], signal?: AbortSignal): Promise<ObservedService[] | undefined> {
    const list = await this.read({ cmd: 'service:list', plugin }, (e) => e.kind === 'PluginMissing', { signal });
    if (!list) return undefined;
    const names = parseNameList(list.stdout);
    const services = await mapLimit(names, this.concurrency, (name) =>
      (detail?.(plugin, name) ?? true) ? this.observeService(plugin, name, signal) : Promise.resolve({ plugin, name, status: '', links: [] }));
    return services.filter((s): s is ObservedService => s !== undefined);
  }

  /** One service's status and links (`<plugin>:info`), or undefined when it does not exist. */
  async observeService(plugin: ServicePlugin, name: string, signal?: AbortSignal): Promise<ObservedService | undefined> {
    const r = await this.read({ cmd: 'service:info', plugin, service: name }, (e) => e.kind === 'ServiceMissing', { signal });
    if (!r) return undefined;
    const info = parseTextReports(r.stdout, `${plugin} service`).get(name) ?? {};
    const links = (info['links'] ?? '').split(/\s+/).filter((app) => app && app !== '-');
    return { plugin, name, status: info['status'] ?? '', links };
  }

  /** Certificates per app, or undefined when the letsencrypt plugin is not installed. */
  private async letsencryptList(signal?: AbortSignal): Promise<LetsencryptEntry[] | undefined> {
    const { result, error } = await this.attempt(render({ cmd: 'letsencrypt:list' }), { signal }, (e) => e.kind === 'PluginMissing' || NO_APPS.test(e.dokkuMessage));
    if (!error) return parseLetsencryptList(result.stdout);
    if (error.kind === 'PluginMissing') return undefined;
    // The plugin lists through `dokku_apps`, which fails when there are no apps at all.
    if (NO_APPS.test(error.dokkuMessage)) return [];
    throw error;
  }

  private async aclUsers(app: string, signal?: AbortSignal): Promise<string[] | undefined> {
    // The acl plugin lists users on stderr, and refuses to run for ssh keys (only on the host itself).
    const r = await this.read({ cmd: 'acl:list', app }, (e) => e.kind === 'PluginMissing' || e.kind === 'Usage', { signal });
    return r ? parseNameList(`${r.stdout}\n${r.stderr}`) : undefined;
  }

  private async detail(app: string, caps: Capabilities, signal?: AbortSignal): Promise<{ config: Record<string, string>; scale: Record<string, number> } | undefined> {
    const gone = (e: DokkuError) => e.kind === 'AppMissing';
    const config = await this.read({ cmd: 'config:export', app }, gone, { signal });
    const scale = await this.read({ cmd: 'ps:scale:read', app, json: caps.psScaleJson }, gone, { signal });
    if (!config || !scale) return undefined;
    return { config: parseConfigExport(config.stdout), scale: parsePsScale(scale.stdout) };
  }

  /** Everything this host runs, read in bulk. Fails as a whole rather than return a partial picture. */
  async observe(options: ObserveOptions = {}): Promise<ObservedHost> {
    const { signal } = options;
    const version = await this.version();
    const caps = capabilities(version);
    const marker = options.managedMarker ?? 'OTM_MANAGED';
    const names = await this.appNames(caps, signal);
    const none = new Map<string, Report>();
    const [appsR, psR, domainsR, resourceR] = names.length === 0
      ? [none, none, none, none]
      : await Promise.all([
        this.bulkReport('apps:report', 'app', signal),
        this.bulkReport('ps:report', 'ps', signal),
        this.bulkReport('domains:report', 'domains', signal),
        this.bulkReport('resource:report', 'resource', signal),
      ]);
    const [postgres, redis] = [await this.services('postgres', options.serviceDetail, signal), await this.services('redis', options.serviceDetail, signal)];
    const le = await this.letsencryptList(signal);
    const sshKeys = await this.read({ cmd: 'ssh-keys:list' }, (e) => NO_SSH_KEYS.test(e.dokkuMessage), { signal });

    const certificates = new Map<string, LetsencryptEntry>((le ?? []).map((e) => [e.app, e]));
    const services = new Map<string, ObservedService>();
    const linked = (plugin: ServicePlugin, app: string) =>
      [...services.values()].filter((s) => s.plugin === plugin && s.links.includes(app)).map((s) => s.name);
    for (const s of [...(postgres ?? []), ...(redis ?? [])]) services.set(`${s.plugin}/${s.name}`, s);

    const wanted = names.filter((app) => options.detail?.(app) ?? true);
    const details = new Map(await mapLimit(wanted, this.concurrency, async (app) => [app, await this.detail(app, caps, signal)] as const));

    const apps = new Map<string, ObservedApp>();
    for (const name of names) {
      const d = details.get(name);
      if (details.has(name) && !d) continue; // destroyed while we were reading
      apps.set(name, this.buildApp(name, appsR.get(name), psR.get(name), domainsR.get(name), resourceR.get(name), {
        config: d?.config ?? {},
        scale: d?.scale ?? {},
        partial: !d,
        links: { postgres: linked('postgres', name), redis: linked('redis', name) },
        certificate: certificates.get(name),
      }));
    }

    const acl = new Map<string, string[]>();
    const managed = [...apps.values()].filter((app) => marker in app.config).map((app) => app.name);
    // The first answer says whether the plugin is there at all; the rest are read like the other per-app reads.
    const firstUsers = managed.length > 0 ? await this.aclUsers(managed[0]!, signal) : undefined;
    const aclAnswers = firstUsers !== undefined;
    if (firstUsers) {
      acl.set(managed[0]!, firstUsers);
      const rest = await mapLimit(managed.slice(1), this.concurrency, async (app) => [app, await this.aclUsers(app, signal)] as const);
      for (const [app, users] of rest) if (users) acl.set(app, users);
    }

    return {
      host: this.host,
      version,
      apps,
      services,
      plugins: { postgres: postgres !== undefined, redis: redis !== undefined, letsencrypt: le !== undefined, acl: aclAnswers },
      sshKeys: sshKeys ? parseSshKeys(sshKeys.stdout) : new Map(),
      acl,
    };
  }

  /** One app, read fresh (JSON reports where the version has them); undefined when it does not exist. */
  async observeApp(name: string, signal?: AbortSignal): Promise<ObservedApp | undefined> {
    const caps = await this.capabilities();
    let appR: Report;
    try {
      appR = await this.appReport('apps:report', 'app', name, caps.jsonReport.apps, signal);
    } catch (err) {
      if (err instanceof DokkuError && err.kind === 'AppMissing') return undefined;
      throw err;
    }
    const [psR, domainsR, resourceR, detail] = await Promise.all([
      this.appReport('ps:report', 'ps', name, caps.jsonReport.ps, signal),
      this.appReport('domains:report', 'domains', name, caps.jsonReport.domains, signal),
      this.appReport('resource:report', 'resource', name, caps.jsonReport.resource, signal),
      this.detail(name, caps, signal),
    ]);
    if (!detail) return undefined;
    const links = { postgres: [] as string[], redis: [] as string[] };
    for (const plugin of ['postgres', 'redis'] as const) {
      const r = await this.read({ cmd: 'service:app-links', plugin, app: name }, (e) => e.kind === 'PluginMissing', { signal });
      links[plugin] = r ? parseNameList(r.stdout) : [];
    }
    const active = await this.read({ cmd: 'letsencrypt:active', app: name }, (e) => e.kind === 'PluginMissing', { signal });
    return this.buildApp(name, appR, psR, domainsR, resourceR, {
      ...detail,
      partial: false,
      links,
      certificate: active?.stdout.trim() === 'true' ? { app: name } : undefined,
    });
  }

  /** Users allowed to push to one app (dokku-acl), or undefined when the plugin does not answer here. */
  observeAcl(app: string, signal?: AbortSignal): Promise<string[] | undefined> {
    return this.aclUsers(app, signal);
  }

  private buildApp(
    name: string,
    appR: Report | undefined,
    psR: Report | undefined,
    domainsR: Report | undefined,
    resourceR: Report | undefined,
    extra: {
      config: Record<string, string>;
      scale: Record<string, number>;
      partial: boolean;
      links: { postgres: string[]; redis: string[] };
      certificate: LetsencryptEntry | undefined;
    },
  ): ObservedApp {
    const createdAt = unixToIso(pick(appR, 'app', 'created-at'));
    const memory = pick(resourceR, 'resource', '_default_-limit-memory');
    const cpu = pick(resourceR, 'resource', '_default_-limit-cpu');
    return {
      name,
      ...(createdAt ? { createdAt } : {}),
      deployed: pick(psR, 'ps', 'deployed') === 'true',
      deploySource: pick(appR, 'app', 'deploy-source') ?? '',
      deploySourceMetadata: pick(appR, 'app', 'deploy-source-metadata') ?? '',
      scale: extra.scale,
      status: processStatus(psR),
      stoppedByUser: pick(psR, 'ps', 'restore') === 'false',
      config: extra.config,
      domains: (pick(domainsR, 'domains', 'app-vhosts') ?? '').split(/\s+/).filter(Boolean),
      vhostsEnabled: pick(domainsR, 'domains', 'app-enabled') === 'true',
      links: extra.links,
      letsencrypt: extra.certificate
        ? { active: true, ...(extra.certificate.expiry ? { expiresAt: extra.certificate.expiry } : {}) }
        : { active: false },
      resources: { ...(memory ? { memory } : {}), ...(cpu ? { cpu } : {}) },
      locked: pick(appR, 'app', 'locked') === 'true',
      ...(extra.partial ? { partial: true } : {}),
    };
  }
}
