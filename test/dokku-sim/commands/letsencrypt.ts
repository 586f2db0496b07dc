// dokku-letsencrypt (bash, the 2026 release: idempotent enable, `--format json` reports). No ACME
// server is reached: a certificate is "issued" for 90 days when the app has domains and an email is set.
import type { CommandSpec, Ctx } from '../context.js';
import { byteOrder } from '../output.js';
import type { AppState } from '../state.js';
import { runReport } from '../report.js';
import type { ReportDef } from '../report.js';

const CERT_SECONDS = 90 * 24 * 3600;
const GRACE_SECONDS = 30 * 24 * 3600;

function active(ctx: Ctx, app: AppState): boolean {
  return app.letsencrypt.active && app.letsencrypt.expiration > ctx.now();
}

const letsencryptReport: ReportDef = {
  type: 'letsencrypt',
  prefix: '--letsencrypt-',
  implementation: 'bash',
  emptySingle: 'fail',
  bashJson: () => true,
  rows(ctx, _name, app, state) {
    const email = state.letsencryptEmail;
    return [
      ['--letsencrypt-active', String(active(ctx, app))],
      ['--letsencrypt-autorenew', 'true'],
      ['--letsencrypt-computed-dns-provider', ''],
      ['--letsencrypt-global-dns-provider', ''],
      ['--letsencrypt-dns-provider', ''],
      ['--letsencrypt-computed-email', email],
      ['--letsencrypt-global-email', email],
      ['--letsencrypt-email', ''],
      ['--letsencrypt-expiration', app.letsencrypt.active ? String(app.letsencrypt.expiration) : ''],
      ['--letsencrypt-computed-graceperiod', String(GRACE_SECONDS)],
      ['--letsencrypt-global-graceperiod', ''],
      ['--letsencrypt-graceperiod', ''],
      ['--letsencrypt-computed-lego-args', ''],
      ['--letsencrypt-global-lego-args', ''],
      ['--letsencrypt-lego-args', ''],
      ['--letsencrypt-computed-lego-docker-options', ''],
      ['--letsencrypt-global-lego-docker-options', ''],
      ['--letsencrypt-lego-docker-options', ''],
      ['--letsencrypt-computed-server', 'https://acme-v02.api.letsencrypt.org/directory'],
      ['--letsencrypt-global-server', ''],
      ['--letsencrypt-server', ''],
    ];
  },
};

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${d}d, ${h}h, ${m}m, ${seconds % 60}s`;
}

export const letsencryptCommands: Record<string, CommandSpec> = {
  'letsencrypt:enable': {
    family: 'bash',
    mutating: true,
    run(ctx, args) {
      const force = args.includes('--force') || args.includes('-f') || ctx.force;
      const name = args.find((a) => !a.startsWith('-'));
      const state = ctx.state();
      const app = ctx.verifyAppBash(name, state);
      ctx.out.info2(`Enabling letsencrypt for ${name}`);
      if (!state.letsencryptEmail) {
        ctx.out.fail([
          'ERROR: Cannot request a certificate without an e-mail address!',
          '  please provide your e-mail address using',
          '  dokku letsencrypt:set <app> email <e-mail>',
        ].join('\n'));
      }
      if (app.domains.length === 0 || app.config.NO_VHOST === '1') ctx.out.fail(`No domains detected for ${name}`);
      if (!force && active(ctx, app) && app.letsencrypt.expiration - ctx.now() > GRACE_SECONDS) {
        ctx.out.info1(`Certificate is still valid for ${name}, skipping certificate request`);
        ctx.out.info1('Pass --force to letsencrypt:enable to request a new certificate anyway');
        return;
      }
      ctx.out.info1(`Enabling ACME proxy for ${name}...`);
      ctx.out.info1(`Getting letsencrypt certificate for ${name} via HTTP-01`);
      for (const d of app.domains) ctx.out.verbose(`- Domain '${d}'`);
      ctx.store.transact((s) => {
        ctx.verifyAppBash(name, s).letsencrypt = { active: true, expiration: ctx.now() + CERT_SECONDS };
      });
      ctx.out.info1(`Disabling ACME proxy for ${name}...`);
      ctx.out.info1('Done');
    },
  },
  'letsencrypt:disable': {
    family: 'bash',
    mutating: true,
    run(ctx, args) {
      const name = args[0];
      ctx.verifyAppBash(name);
      ctx.out.info2(`Disabling letsencrypt for ${name}`);
      ctx.store.transact((s) => {
        ctx.verifyAppBash(name, s).letsencrypt = { active: false, expiration: 0 };
      });
      ctx.out.info1('Done');
    },
  },
  'letsencrypt:active': {
    family: 'bash',
    run(ctx, args) {
      ctx.out.line(String(active(ctx, ctx.verifyAppBash(args[0]))));
    },
  },
  'letsencrypt:list': {
    family: 'bash',
    run(ctx) {
      const state = ctx.state();
      const rows: [string, string, string, string][] = [['App name', 'Certificate Expiry', 'Time before expiry', 'Time before renewal']];
      for (const name of Object.keys(state.apps).sort(byteOrder)) {
        const app = state.apps[name]!;
        if (!active(ctx, app)) continue;
        const left = app.letsencrypt.expiration - ctx.now();
        rows.push([name, new Date(app.letsencrypt.expiration * 1000).toISOString().replace('T', ' ').slice(0, 19), duration(left), duration(Math.max(0, left - GRACE_SECONDS))]);
      }
      const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
      rows.forEach((r, i) => {
        const text = `${r[0].padEnd(widths[0]!)}  ${r[1].padEnd(widths[1]!)}  ${r[2].padEnd(widths[2]!)}  ${r[3]}`;
        if (i === 0) ctx.out.info1(text);
        else ctx.out.line(text);
      });
    },
  },
  'letsencrypt:report': { family: 'bash', rawArgs: true, run: (ctx, args) => runReport(ctx, letsencryptReport, args) },
  'letsencrypt:set': {
    family: 'bash',
    mutating: true,
    run(ctx, args) {
      const [target, key, value] = args;
      if (target !== '--global' || key !== 'email') return ctx.out.fail('Only `letsencrypt:set --global email <address>` is simulated');
      ctx.store.transact((s) => {
        s.letsencryptEmail = value ?? '';
      });
      ctx.out.info2(value ? `Setting email to ${value}` : 'Unsetting email');
    },
  },
};
