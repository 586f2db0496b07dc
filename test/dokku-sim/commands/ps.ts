// ps:* (Go): report, scale, and the start/stop/restart/rebuild life cycle of the app's containers.
import type { CommandSpec, Ctx } from '../context.js';
import type { FlagSpec } from '../output.js';
import { byteOrder, Exit } from '../output.js';
import type { AppState } from '../state.js';
import { runReport } from '../report.js';
import type { ReportDef } from '../report.js';
import { containerStatuses, stopContainers } from '../containers.js';
import { deploy, effectiveScale, withDeployLock } from '../deploy.js';
import { STANDIN_PROCFILE } from '../standin.js';

function running(app: AppState, statuses: Record<string, string>): string {
  const values = Object.values(statuses);
  if (!app.deployed || values.length === 0) return 'false';
  const up = values.filter((s) => s === 'running').length;
  return up === values.length ? 'true' : up === 0 ? 'false' : 'mixed';
}

export const psReport: ReportDef = {
  type: 'ps',
  prefix: '--ps-',
  implementation: 'go',
  goJson: 'legacy-and-unprefixed',
  async rows(ctx, _name, app) {
    const statuses = app.deployed ? await containerStatuses(ctx, app) : {};
    const f = ctx.features;
    const rows: [string, string][] = [
      ['--deployed', String(app.deployed)],
      ['--processes', String(app.deployed ? Object.keys(app.containers).length : 0)],
      ['--ps-can-scale', 'true'],
      ['--restore', String(!app.stopped)],
      ['--running', running(app, statuses)],
    ];
    if (f.reportJsonUnprefixed) {
      rows.push(
        ['--ps-computed-dockerfile-start-cmd', ''],
        ['--ps-computed-procfile-path', 'Procfile'],
        ['--ps-computed-restart-policy', 'on-failure:10'],
        ['--ps-computed-skip-deploy', 'false'],
        ['--ps-computed-start-cmd', ''],
        ['--ps-computed-stop-timeout-seconds', '30'],
        ['--ps-dockerfile-start-cmd', ''],
        ['--ps-global-procfile-path', ''],
        ['--ps-global-restart-policy', ''],
        ['--ps-global-skip-deploy', ''],
        ['--ps-global-stop-timeout-seconds', ''],
        ['--ps-procfile-path', ''],
        ['--ps-restart-policy', ''],
        ['--ps-skip-deploy', ''],
        ['--ps-start-cmd', ''],
        ['--ps-stop-timeout-seconds', ''],
      );
    } else {
      rows.push(
        ['--ps-computed-procfile-path', 'Procfile'],
        ['--ps-global-procfile-path', 'Procfile'],
        ['--ps-procfile-path', ''],
        ['--ps-restart-policy', 'on-failure:10'],
      );
      if (f.psStopTimeout) {
        rows.push(['--ps-computed-stop-timeout-seconds', '30'], ['--ps-global-stop-timeout-seconds', ''], ['--ps-stop-timeout-seconds', '']);
      }
    }
    for (const [dyno, status] of Object.entries(statuses)) {
      const id = app.containers[dyno]!.id.slice(0, 11);
      rows.push([`--status-${dyno}`, status === 'missing' ? 'missing' : `${status} (CID: ${id})`]);
    }
    return rows;
  },
};

function scaleFlags(ctx: Ctx): FlagSpec[] {
  const flags: FlagSpec[] = [{ name: 'skip-deploy', type: 'bool', usage: '--skip-deploy: skip deploy of the app' }];
  if (ctx.features.listFormatJson) flags.push({ name: 'format', type: 'string', default: 'stdout', usage: 'format: [ stdout | json ]' });
  return flags;
}

const parallelFlag: FlagSpec[] = [{ name: 'parallel', type: 'int', default: '1', usage: '--parallel: number of apps to deploy in parallel, -1 to match cpu count' }];

/** The app of a life-cycle command, or undefined (after Dokku's warning, exit 0) when it was never deployed. */
function deployedApp(ctx: Ctx, args: string[]): AppState | undefined {
  const app = ctx.verifyAppGo(args[0]);
  if (app.deployed) return app;
  ctx.out.warn(`App ${args[0]} has not been deployed`);
  return undefined;
}

async function readScale(ctx: Ctx, name: string, app: AppState, format: string): Promise<void> {
  const entries = Object.keys(app.scale).sort(byteOrder).map((t) => [t, app.scale[t]!] as const);
  if (format === 'json') {
    ctx.out.line(JSON.stringify(entries.map(([t, q]) => ({ process_type: t, quantity: q }))));
    return;
  }
  ctx.out.info1Quiet(`Scaling for ${name}`);
  ctx.out.quietLine('proctype: qty');
  ctx.out.quietLine('--------: ---');
  for (const [t, q] of entries) ctx.out.line(`${`${t}:`.padEnd(5)} ${q}`);
}

export const psCommands: Record<string, CommandSpec> = {
  'ps:report': { family: 'go', rawArgs: true, core: true, run: (ctx, args) => runReport(ctx, psReport, args) },
  'ps:scale': {
    family: 'go',
    core: true,
    mutating: (args) => args.some((a) => a.includes('=') && !a.startsWith('--')),
    flags: scaleFlags,
    async run(ctx, args, flags) {
      const app = ctx.verifyAppGo(args[0]);
      const name = args[0]!;
      const tuples = args.slice(1);
      if (tuples.length === 0) return readScale(ctx, name, app, (flags.format as string | undefined) ?? 'stdout');
      const wanted: Record<string, number> = {};
      for (const t of tuples) {
        const [type, count] = t.split('=', 2) as [string, string | undefined];
        if (count === undefined || count === '') return ctx.out.fail(`Missing count for process type ${type}`);
        if (!/^\d+$/.test(count)) ctx.out.fail(`Invalid count for process type ${type}`);
        if (app.deployed && !(type in STANDIN_PROCFILE) && Number(count) > 0) ctx.out.fail(`${type} is not a valid process name to scale up`);
        wanted[type] = Number(count);
      }
      ctx.out.info1(`Scaling ${name} processes: ${tuples.join(' ')}`);
      const { before, after } = ctx.store.transact((s) => {
        const a = ctx.verifyAppGo(name, s);
        const prev = a.deployed ? effectiveScale(a) : { ...a.scale };
        a.scale = { ...(a.deployed ? prev : a.scale), ...wanted };
        return { before: prev, after: a };
      });
      if (!after.deployed || flags['skip-deploy'] || after.stopped) return;
      const changed = Object.keys(wanted).filter((t) => before[t] !== wanted[t]);
      if (changed.length > 0) await deploy(ctx, name, changed);
    },
  },
  'ps:start': {
    family: 'go',
    core: true,
    mutating: true,
    flags: parallelFlag,
    async run(ctx, args) {
      const name = args[0]!;
      const app = deployedApp(ctx, args);
      if (!app) return;
      const statuses = await containerStatuses(ctx, app);
      if (!app.stopped && running(app, statuses) === 'true') {
        ctx.out.warn(`App ${name} already running`);
        return;
      }
      ctx.beginBuildCapture();
      ctx.out.warn('App has been detected as not running, releasing');
      await deploy(ctx, name);
    },
  },
  'ps:stop': {
    family: 'go',
    core: true,
    mutating: true,
    flags: parallelFlag,
    async run(ctx, args) {
      const name = args[0]!;
      const app = deployedApp(ctx, args);
      if (!app) return;
      ctx.out.info1(`Stopping ${name}`);
      const release = ctx.store.lockApp(name);
      try {
        const current = ctx.state().apps[name] ?? app;
        const containers = await stopContainers(ctx, current);
        ctx.store.transact((s) => {
          const a = s.apps[name];
          if (!a) return;
          a.containers = containers;
          a.stopped = true;
        });
      } finally {
        release();
      }
    },
  },
  'ps:restart': {
    family: 'go',
    core: true,
    mutating: true,
    flags: parallelFlag,
    async run(ctx, args) {
      const name = args[0]!;
      if (!deployedApp(ctx, args)) return;
      ctx.beginBuildCapture();
      const type = args[1];
      await deploy(ctx, name, type && type in STANDIN_PROCFILE ? [type] : undefined);
    },
  },
  'ps:rebuild': {
    family: 'go',
    core: true,
    mutating: true,
    flags: parallelFlag,
    async run(ctx, args) {
      const name = args[0]!;
      const app = ctx.verifyAppGo(name);
      if (!app.image) {
        ctx.out.line("\u001b[1G\u001b[K-----> WARNING: Cannot build from 'master' as there are no commits stored at that branch.");
        throw new Exit(1);
      }
      await withDeployLock(ctx, name, async () => {
        ctx.out.info1(`Building ${name} from Dockerfile`);
        await deploy(ctx, name);
      });
    },
  },
};
