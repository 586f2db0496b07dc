// domains:* (bash; domains:report is Go from 0.38.22).
import type { CommandSpec, Ctx } from '../context.js';
import type { AppState } from '../state.js';
import { runReport } from '../report.js';
import type { ReportDef } from '../report.js';
import { bashReportLine, goJsonMap, goReportLines, jqJsonMap } from '../output.js';

const HOSTNAME = /^[a-z0-9.*-]*[a-z0-9*-]$/;

function globalRows(ctx: Ctx): [string, string][] {
  return [
    ['--domains-global-enabled', String(ctx.settings.globalDomain !== '')],
    ['--domains-global-vhosts', ctx.settings.globalDomain],
  ];
}

export function domainsReport(ctx: Ctx): ReportDef {
  const go = ctx.features.goDomainsGitReports;
  return {
    type: 'domains',
    prefix: '--domains-',
    implementation: go ? 'go' : 'bash',
    goJson: 'unprefixed',
    emptySingle: 'blank',
    rows: (c, _name, app) => [
      ['--domains-app-enabled', String(app.config.NO_VHOST !== '1')],
      ['--domains-app-vhosts', app.domains.join(' ')],
      ...globalRows(c),
    ],
  };
}

/** `domains:report --global`: Go and bash differ in the header. */
function globalReport(ctx: Ctx, args: string[]): void {
  const rows = globalRows(ctx);
  const infoFlag = args.find((a) => a.startsWith('--') && a !== '--global' && a !== '--format' && !a.startsWith('--format='));
  const json = args.includes('json');
  if (infoFlag) {
    const row = rows.find(([f]) => f === infoFlag);
    if (!row) return ctx.out.fail(`Invalid flag passed, valid flags: ${rows.map(([f]) => f).join(ctx.features.goDomainsGitReports ? ', ' : ' ')}`);
    if (row[1] !== '' || ctx.features.goDomainsGitReports) ctx.out.line(row[1]);
    return;
  }
  if (ctx.features.goDomainsGitReports) {
    if (json) return ctx.out.line(goJsonMap(Object.fromEntries(rows.map(([f, v]) => [f.slice('--domains-'.length), v]))));
    const lines = goReportLines('--global domains information', Object.fromEntries(rows));
    if (!ctx.out.quiet) ctx.out.line(lines[0]!);
    for (const l of lines.slice(1)) ctx.out.line(l);
    return;
  }
  if (json && ctx.features.bashReportJson) return ctx.out.line(jqJsonMap(rows.map(([f, v]) => [f.slice('--domains-'.length), v])));
  ctx.out.info2Quiet('Global domains information');
  for (const [f, v] of rows) {
    const words = f.slice(2).replace(/-/g, ' ');
    ctx.out.line(bashReportLine(words.charAt(0).toUpperCase() + words.slice(1), v));
  }
}

/** The app must exist and every domain argument be a valid hostname. */
function validDomains(ctx: Ctx, args: string[]): string[] {
  ctx.verifyAppBash(args[0]);
  const app = args[0]!;
  const domains = args.slice(1);
  if (domains.length === 0) ctx.out.fail(`Please specify a domain name. Usage: dokku ${app}  <domain> [<domain> ...]`);
  for (const d of domains) {
    const lower = d.toLowerCase();
    if (lower !== '_' && !HOSTNAME.test(lower)) ctx.out.fail(`${d} is invalid. exiting...`);
  }
  return domains.map((d) => d.toLowerCase());
}

/** post-domains-update: a deployed app's proxy configuration is rebuilt. */
function proxyRebuilt(ctx: Ctx, app: AppState): void {
  if (!app.deployed) return;
  ctx.out.info1('Creating http nginx.conf');
  ctx.out.verbose('Reloading nginx');
}

function change(ctx: Ctx, args: string[], edit: (app: AppState, name: string) => void): AppState {
  const name = args[0];
  ctx.verifyAppBash(name);
  return ctx.store.transact((s) => {
    const app = ctx.verifyAppBash(name, s);
    edit(app, name!);
    return app;
  });
}

export const domainsCommands: Record<string, CommandSpec> = {
  'domains:report': {
    family: (ctx) => (ctx.features.goDomainsGitReports ? 'go' : 'bash'),
    rawArgs: true,
    core: true,
    run(ctx, args) {
      if (args.includes('--global')) return globalReport(ctx, args);
      return runReport(ctx, domainsReport(ctx), args);
    },
  },
  'domains:set': {
    family: 'bash',
    core: true,
    mutating: true,
    run(ctx, args) {
      const domains = validDomains(ctx, args);
      const app = change(ctx, args, (a) => {
        a.domains = [...new Set(domains)];
        if (a.config.NO_VHOST === '1') a.config.NO_VHOST = '0';
      });
      ctx.out.info1(`Set ${domains.join(' ')} for ${args[0]}`);
      proxyRebuilt(ctx, app);
    },
  },
  'domains:add': {
    family: 'bash',
    core: true,
    mutating: true,
    run(ctx, args) {
      const domains = validDomains(ctx, args);
      const added: string[] = [];
      const app = change(ctx, args, (a) => {
        for (const d of domains) {
          if (a.domains.includes(d)) continue;
          a.domains.push(d);
          added.push(d);
        }
        if (a.config.NO_VHOST === '1') a.config.NO_VHOST = '0';
      });
      for (const d of domains) {
        if (added.includes(d)) ctx.out.info1(`Added ${d} to ${args[0]}`);
        else ctx.out.info1(`Skipping: ${d} already added to ${args[0]}`);
      }
      proxyRebuilt(ctx, app);
    },
  },
  'domains:remove': {
    family: 'bash',
    core: true,
    mutating: true,
    run(ctx, args) {
      const domains = validDomains(ctx, args);
      const app = change(ctx, args, (a) => {
        a.domains = a.domains.filter((d) => !domains.includes(d));
      });
      for (const d of domains) ctx.out.info1(`Removed ${d} from ${args[0]}`);
      proxyRebuilt(ctx, app);
    },
  },
  'domains:clear': {
    family: 'bash',
    core: true,
    mutating: true,
    run(ctx, args) {
      const app = change(ctx, args, (a, name) => {
        a.domains = ctx.features.domainsClearRemovesAll || !ctx.settings.globalDomain ? [] : [`${name}.${ctx.settings.globalDomain}`];
      });
      ctx.out.info1(`Cleared domains in ${args[0]}`);
      proxyRebuilt(ctx, app);
    },
  },
};

/** domains:reset exists from 0.36.0 (it is what domains:clear did before). */
export const domainsResetCommand: CommandSpec = {
  family: 'bash',
  core: true,
  mutating: true,
  run(ctx, args) {
    if (!ctx.features.domainsClearRemovesAll) {
      return ctx.out.fail(`\`domains:reset ${args.join(' ')}\` is not a dokku command.\nSee \`dokku help\` for a list of available commands.`);
    }
    const app = change(ctx, args, (a, name) => {
      a.domains = ctx.settings.globalDomain ? [`${name}.${ctx.settings.globalDomain}`] : [];
    });
    ctx.out.info1(`Reset domains for ${args[0]}`);
    proxyRebuilt(ctx, app);
  },
};
