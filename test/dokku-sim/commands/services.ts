// The datastore plugins (dokku-postgres, dokku-redis; bash, sharing common-functions): services,
// their links into app config (DATABASE_URL / REDIS_URL), and postgres:export.
import { createHash } from 'node:crypto';
import type { CommandSpec, Ctx } from '../context.js';
import { byteOrder, bashReportLine, Exit } from '../output.js';
import type { ServicePlugin, ServiceState, SimState, AppState } from '../state.js';
import { setConfig } from './config.js';
import { restartAfterConfigChange } from '../deploy.js';
import { readStdinLine } from '../stdin.js';

const COLORS = ['AQUA', 'BLACK', 'BLUE', 'FUCHSIA', 'GRAY', 'GREEN', 'LIME', 'MAROON', 'NAVY', 'OLIVE', 'PURPLE', 'RED', 'SILVER', 'TEAL', 'WHITE', 'YELLOW'];

interface PluginInfo {
  title: string;
  alias: string;
  image: string;
  passwordBytes: number;
  port: number;
  configDir: string;
}

const PLUGINS: Record<ServicePlugin, PluginInfo> = {
  postgres: { title: 'Postgres', alias: 'DATABASE', image: 'postgres:18.4', passwordBytes: 16, port: 5432, configDir: 'data' },
  redis: { title: 'Redis', alias: 'REDIS', image: 'redis:8.8.0', passwordBytes: 32, port: 6379, configDir: 'config' },
};

function dashed(service: string): string {
  return service.replace(/[._]/g, '-');
}

export function serviceUrl(plugin: ServicePlugin, service: string, svc: ServiceState, app?: AppState): string {
  const host = `dokku-${plugin}-${dashed(service)}`;
  if (plugin === 'postgres') {
    const scheme = app?.config.POSTGRES_DATABASE_SCHEME ?? 'postgres';
    return `${scheme}://postgres:${svc.password}@${host}:5432/${service.replace(/[.-]/g, '_')}`;
  }
  const scheme = app?.config.REDIS_DATABASE_SCHEME ?? 'redis';
  return `${scheme}://:${svc.password}@${host}:6379`;
}

function verifyService(ctx: Ctx, plugin: ServicePlugin, service: string | undefined, state: SimState = ctx.state()): ServiceState {
  if (!service) return ctx.out.fail(`Please specify a valid name for the service`);
  const svc = state.services[plugin][service];
  if (!svc) return ctx.out.fail(`${PLUGINS[plugin].title} service ${service} does not exist`);
  return svc;
}

function infoRows(plugin: ServicePlugin, service: string, svc: ServiceState): [string, string][] {
  const root = `/var/lib/dokku/services/${plugin}/${service}`;
  return [
    ['--config-dir', `${root}/${PLUGINS[plugin].configDir}`],
    ['--config-options', ''],
    ['--data-dir', `${root}/data`],
    ['--dsn', serviceUrl(plugin, service, svc)],
    ['--exposed-ports', '-'],
    ['--id', svc.id],
    ['--internal-ip', `172.17.0.${2 + (parseInt(svc.id.slice(0, 2), 16) % 250)}`],
    ['--initial-network', ''],
    ['--links', svc.links.length ? `${[...svc.links].sort(byteOrder).join(' ')} ` : '-'],
    ['--post-create-network', ''],
    ['--post-start-network', ''],
    ['--service-root', root],
    ['--status', 'running'],
    ['--version', PLUGINS[plugin].image],
  ];
}

function printInfo(ctx: Ctx, plugin: ServicePlugin, service: string, svc: ServiceState): void {
  ctx.out.info2Quiet(`${service} ${plugin} service information`);
  for (const [flag, value] of infoRows(plugin, service, svc)) {
    const words = flag.slice(2).replace(/-/g, ' ');
    ctx.out.line(bashReportLine(words.charAt(0).toUpperCase() + words.slice(1), value, 20, 25));
  }
}

/** Splits `-x value`, `--long value`, `--long=value` options out of a bash plugin's arguments. */
function options(args: string[], withValue: Record<string, string>, bools: Record<string, string>): { opts: Record<string, string | true>; rest: string[] } {
  const opts: Record<string, string | true> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (withValue[flag]) opts[withValue[flag]!] = flag !== a ? a.slice(eq + 1) : args[++i] ?? '';
    else if (bools[a]) opts[bools[a]!] = true;
    else rest.push(a);
  }
  return { opts, rest };
}

/** The custom-format dump postgres:export streams: deterministic for a service, so backups can be verified. */
export function pgDump(service: string, svc: ServiceState): Buffer {
  const database = service.replace(/[.-]/g, '_');
  const body = [
    `-- PostgreSQL database dump of ${database}`,
    `-- service ${service} created ${svc.createdAt}`,
    `-- content ${createHash('sha256').update(`${service}\n${svc.id}\n${svc.createdAt}`).digest('hex')}`,
    '',
  ].join('\n');
  // "PGDMP", then the archive version bytes (1.16.0) and int/offset sizes pg_dump writes.
  return Buffer.concat([Buffer.from('PGDMP'), Buffer.from([1, 16, 0, 4, 8, 1, 1]), Buffer.from(body)]);
}

function serviceCommands(plugin: ServicePlugin): Record<string, CommandSpec> {
  const p = PLUGINS[plugin];
  const c = (sub: string) => `${plugin}:${sub}`;
  const commands: Record<string, CommandSpec> = {
    [c('create')]: {
      family: 'bash',
      mutating: true,
      run(ctx, args) {
        const { opts, rest } = options(args, { '-i': 'image', '--image': 'image', '-I': 'version', '--image-version': 'version', '-p': 'password', '--password': 'password', '-r': 'root', '--root-password': 'root', '-m': 'memory', '--memory': 'memory', '-s': 'shm', '--shm-size': 'shm', '-c': 'config', '--config-options': 'config', '-C': 'env', '--custom-env': 'env', '-N': 'net', '--initial-network': 'net', '-P': 'pnet', '--post-create-network': 'pnet', '-S': 'snet', '--post-start-network': 'snet' }, {});
        const service = rest[0];
        if (!service || !/^[A-Za-z0-9_-]+$/.test(service)) return ctx.out.fail('Please specify a valid name for the service. Valid characters are: [A-Za-z0-9_]+');
        const svc = ctx.store.transact((s) => {
          if (s.services[plugin][service]) ctx.out.fail(`${p.title} service ${service} already exists`);
          const created: ServiceState = {
            password: typeof opts.password === 'string' ? opts.password : ctx.hex(p.passwordBytes),
            createdAt: ctx.now(),
            id: ctx.hex(32),
            links: [],
          };
          s.services[plugin][service] = created;
          return created;
        });
        ctx.out.verboseQuiet('Waiting for container to be ready');
        if (plugin === 'postgres') {
          ctx.out.verboseQuiet('Creating container database');
          ctx.out.verboseQuiet('Securing connection to database');
        }
        ctx.out.info2(`${p.title} container created: ${service}`);
        printInfo(ctx, plugin, service, svc);
      },
    },
    [c('destroy')]: {
      family: 'bash',
      mutating: true,
      run(ctx, args) {
        const { opts, rest } = options(args, {}, { '-f': 'force', '--force': 'force', force: 'force' });
        const service = rest[0];
        const svc = verifyService(ctx, plugin, service);
        if (svc.links.length > 0) ctx.out.fail('Cannot delete linked service');
        if (!opts.force && !ctx.force) {
          ctx.out.warn('WARNING: Potentially Destructive Action');
          ctx.out.warn(`This command will destroy ${service} ${p.title} service.`);
          ctx.out.warn(`To proceed, type "${service}"`);
          ctx.out.line('');
          const answer = readStdinLine();
          if (answer === undefined) throw new Exit(1);
          if (answer !== service) ctx.out.fail(`Confirmation did not match ${service}. Aborted.`);
        }
        ctx.out.info2(`Deleting ${service}`);
        ctx.store.transact((s) => {
          if (s.services[plugin][service!]?.links.length) ctx.out.fail('Cannot delete linked service');
          delete s.services[plugin][service!];
        });
        ctx.out.info2('Pausing container');
        ctx.out.verbose('Container paused');
        ctx.out.verbose('Removing container');
        ctx.out.verbose('Removing data');
        ctx.out.info2(`${p.title} container deleted: ${service}`);
      },
    },
    [c('exists')]: {
      family: 'bash',
      run(ctx, args) {
        verifyService(ctx, plugin, args[0]);
        ctx.out.info1(`Service ${args[0]} exists`);
      },
    },
    [c('list')]: {
      family: 'bash',
      run(ctx) {
        const names = Object.keys(ctx.state().services[plugin]).sort(byteOrder);
        if (names.length === 0) return ctx.out.warn(`There are no ${p.title} services`);
        ctx.out.info2Quiet(`${p.title} services`);
        for (const n of names) ctx.out.line(n);
      },
    },
    [c('info')]: {
      family: 'bash',
      run(ctx, args) {
        const service = args.find((a) => !a.startsWith('--'));
        const svc = verifyService(ctx, plugin, service);
        const flag = args.find((a) => a.startsWith('--'));
        const rows = infoRows(plugin, service!, svc);
        if (!flag) return printInfo(ctx, plugin, service!, svc);
        const row = rows.find(([f]) => f === flag);
        if (!row) return ctx.out.fail(`Invalid flag passed, valid flags:${rows.map(([f]) => ` ${f}`).join('')}`);
        ctx.out.line(row[1]);
      },
    },
    [c('links')]: {
      family: 'bash',
      run(ctx, args) {
        const svc = verifyService(ctx, plugin, args[0]);
        for (const a of [...svc.links].sort(byteOrder)) ctx.out.line(a);
      },
    },
    [c('linked')]: {
      family: 'bash',
      run(ctx, args) {
        const [service, name] = args;
        const state = ctx.state();
        const svc = verifyService(ctx, plugin, service, state);
        const app = ctx.verifyAppBash(name, state);
        const url = serviceUrl(plugin, service!, svc, app);
        if (!Object.values(app.config).includes(url)) ctx.out.fail(`Service ${service} is not linked to ${name}`);
        ctx.out.info1(`Service ${service} is linked to ${name}`);
      },
    },
    [c('app-links')]: {
      family: 'bash',
      run(ctx, args) {
        const state = ctx.state();
        ctx.verifyAppBash(args[0], state);
        const names = Object.entries(state.services[plugin]).filter(([, s]) => s.links.includes(args[0]!)).map(([n]) => n);
        for (const n of names.sort(byteOrder)) ctx.out.line(n);
      },
    },
    [c('link')]: {
      family: 'bash',
      mutating: true,
      async run(ctx, args) {
        const { opts, rest } = options(args, { '-a': 'alias', '--alias': 'alias', '-q': 'query', '--querystring': 'query' }, { '-n': 'noRestart', '--no-restart': 'noRestart' });
        const [service, name] = rest;
        const state = ctx.state();
        const svc = verifyService(ctx, plugin, service, state);
        const app = ctx.verifyAppBash(name, state);
        const url = serviceUrl(plugin, service!, svc, app) + (typeof opts.query === 'string' ? `?${opts.query}` : '');
        const existing = Object.entries(app.config).find(([, v]) => v === url);
        if (existing) ctx.out.fail(`Already linked as ${existing[0]}`);
        let key: string;
        if (typeof opts.alias === 'string') {
          key = `${opts.alias.toUpperCase().replace(/-/g, '_')}_URL`;
          if (key in app.config) ctx.out.fail(`Specified alias ${opts.alias} already in use`);
        } else {
          key = `${p.alias}_URL`;
          if (key in app.config) {
            const color = COLORS.find((col) => !(`DOKKU_${plugin.toUpperCase()}_${col}_URL` in app.config)) ?? 'AQUA';
            key = `DOKKU_${plugin.toUpperCase()}_${color}_URL`;
          }
        }
        const updated = setConfig(ctx, name!, [[key, url]]);
        ctx.store.transact((s) => {
          const current = s.services[plugin][service!];
          if (current && !current.links.includes(name!)) current.links.push(name!);
        });
        ctx.out.info1('Setting config vars');
        ctx.out.verbose(`${key}:  ${url}`);
        if (opts.noRestart) return ctx.out.verbose('Skipping restart of linked app');
        if (updated.deployed) await restartAfterConfigChange(ctx, name!, updated);
      },
    },
    [c('unlink')]: {
      family: 'bash',
      mutating: true,
      async run(ctx, args) {
        const { opts, rest } = options(args, {}, { '-n': 'noRestart', '--no-restart': 'noRestart' });
        const [service, name] = rest;
        const state = ctx.state();
        const svc = verifyService(ctx, plugin, service, state);
        ctx.verifyAppBash(name, state);
        if (!svc.links.includes(name!)) ctx.out.fail(`Not linked to app ${name}`);
        const result = ctx.store.transact((s) => {
          const app = ctx.verifyAppBash(name, s);
          const current = s.services[plugin][service!];
          if (current) current.links = current.links.filter((a) => a !== name);
          const url = current ? serviceUrl(plugin, service!, current, app) : '';
          const keys = Object.keys(app.config).filter((k) => app.config[k]!.split('?')[0] === url);
          for (const k of keys) delete app.config[k];
          return { app, keys };
        });
        for (const k of result.keys) ctx.out.info1(`Unsetting ${k}`);
        if (!opts.noRestart && result.app.deployed) await restartAfterConfigChange(ctx, name!, result.app);
      },
    },
  };
  if (plugin === 'postgres') {
    commands['postgres:export'] = {
      family: 'bash',
      run(ctx, args) {
        const svc = verifyService(ctx, plugin, args[0]);
        ctx.out.out(pgDump(args[0]!, svc));
      },
    };
  }
  return commands;
}

export const serviceCommandTable: Record<string, CommandSpec> = { ...serviceCommands('postgres'), ...serviceCommands('redis') };
