// apps:* (Go in every supported release).
import type { CommandSpec, Ctx } from '../context.js';
import type { FlagSpec } from '../output.js';
import { isValidNewAppName, appNameRules } from '../context.js';
import { byteOrder, Exit } from '../output.js';
import { readStdinLine } from '../stdin.js';
import { newApp } from '../state.js';
import type { AppState, SimState } from '../state.js';
import { runReport } from '../report.js';
import type { ReportDef } from '../report.js';
import { removeAppContainers } from '../containers.js';

function appsListFlags(ctx: Ctx): FlagSpec[] {
  return ctx.features.listFormatJson ? [{ name: 'format', type: 'string', default: 'stdout', usage: 'format: [ stdout | json ]' }] : [];
}

export const appsReport: ReportDef = {
  type: 'app',
  prefix: '--app-',
  implementation: 'go',
  goJson: 'legacy-and-unprefixed',
  rows(ctx, name, app) {
    const rows: [string, string][] = [
      ['--app-created-at', String(app.createdAt)],
      ['--app-deploy-source', app.deploySource],
      ['--app-deploy-source-metadata', app.deploySourceMetadata],
      ['--app-dir', `/home/dokku/${name}`],
      ['--app-locked', String(app.lockFile)],
    ];
    if (ctx.features.appsDisableAutocreation) rows.push(['--app-global-disable-autocreation', '']);
    return rows;
  },
};

/** The service plugins' pre-delete hook: the app leaves every service's links. */
function unlinkEverywhere(ctx: Ctx, state: SimState, name: string): void {
  for (const plugin of ['postgres', 'redis'] as const) {
    for (const service of Object.keys(state.services[plugin]).sort(byteOrder)) {
      ctx.out.verboseQuiet(`Unlinking from ${service}`);
      const svc = state.services[plugin][service]!;
      svc.links = svc.links.filter((a) => a !== name);
    }
  }
}

export const appsCommands: Record<string, CommandSpec> = {
  'apps:list': {
    family: 'go',
    flags: appsListFlags,
    run(ctx, _args, flags) {
      const format = (flags.format as string | undefined) ?? 'stdout';
      const names = Object.keys(ctx.state().apps).sort(byteOrder);
      if (format === 'json') {
        ctx.out.line(JSON.stringify(names));
        return;
      }
      ctx.out.info2Quiet('My Apps');
      if (names.length === 0) ctx.out.warn("You haven't deployed any applications yet");
      for (const n of names) ctx.out.line(n);
    },
  },
  'apps:exists': {
    family: 'go',
    core: true,
    run(ctx, args) {
      ctx.verifyAppGo(args[0]);
    },
  },
  'apps:create': {
    family: 'go',
    core: true,
    mutating: true,
    run(ctx, args) {
      const name = args[0];
      if (!name) return ctx.out.fail('Please specify an app to run the command on');
      if (!isValidNewAppName(ctx.features.strictAppNames, name)) ctx.out.fail(appNameRules(ctx.features.strictAppNames));
      const domain = ctx.settings.globalDomain;
      ctx.store.transact((s) => {
        if (s.apps[name]) ctx.out.fail('Name is already taken');
        const app = newApp(ctx.now());
        if (domain) app.domains = [name.includes('.') ? name : `${name}.${domain}`];
        else app.config.NO_VHOST = '1';
        s.apps[name] = app;
      });
      ctx.out.info1Quiet(`Creating ${name}...`);
      if (domain) ctx.out.info1Quiet('Creating new app virtual host file...');
      else ctx.out.info1Quiet('Global server virtual host not set, disabling app vhost...');
    },
  },
  'apps:destroy': {
    family: 'go',
    core: true,
    mutating: true,
    flags: [{ name: 'force', type: 'bool', usage: '--force: force destroy without confirmation' }],
    async run(ctx, args, flags) {
      const name = args[0];
      ctx.verifyAppGo(name);
      if (!ctx.force && !flags.force) {
        ctx.out.warn('WARNING: Potentially Destructive Action');
        ctx.out.warn(`This command will destroy app ${name}.`);
        ctx.out.warn(`To proceed, type "${name}"`);
        ctx.out.out('> ');
        const answer = readStdinLine();
        if (answer === undefined) ctx.out.fail('EOF');
        if (answer !== name) {
          ctx.out.stderrLine('Confirmation did not match test. Aborted.');
          throw new Exit(1);
        }
      }
      ctx.out.info1(`Destroying ${name} (including all add-ons)`);
      const existed = ctx.store.transact((s) => {
        if (!s.apps[name!]) return false;
        unlinkEverywhere(ctx, s, name!);
        delete s.apps[name!];
        return true;
      });
      if (!existed) ctx.out.appMissing(name!);
      ctx.out.info1('Cleaning up...');
      ctx.out.info1('Retiring old containers and images');
      await removeAppContainers(ctx, name!);
    },
  },
  'apps:report': {
    family: 'go',
    rawArgs: true,
    core: true,
    run: (ctx, args) => runReport(ctx, appsReport, args),
  },
  'apps:lock': {
    family: 'go',
    core: true,
    mutating: true,
    run(ctx, args) {
      const name = args[0];
      ctx.store.transact((s) => {
        ctx.verifyAppGo(name, s).lockFile = true;
      });
      ctx.out.info1('Deploy lock created');
    },
  },
  'apps:unlock': {
    family: 'go',
    core: true,
    mutating: true,
    run(ctx, args) {
      const name = args[0];
      const had = ctx.store.transact((s) => {
        const app: AppState = ctx.verifyAppGo(name, s);
        const was = app.lockFile;
        app.lockFile = false;
        delete app.lockPid;
        return was;
      });
      if (!had) ctx.out.fail('Unable to remove deploy lock');
      ctx.out.warn('A deploy may be in progress.');
      ctx.out.warn('Removing the app lock will not stop in progress deploys.');
      ctx.out.info1('Deploy lock removed');
    },
  },
  'apps:locked': {
    family: 'go',
    core: true,
    run(ctx, args) {
      const app = ctx.verifyAppGo(args[0]);
      if (!app.lockFile && !ctx.faults.lockedApps.includes(args[0]!)) ctx.out.fail('Deploy lock does not exist');
      ctx.out.line('Deploy lock exists');
    },
  },
};

