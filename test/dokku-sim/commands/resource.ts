// resource:* (Go): limits and reservations stored as `<proctype>.<limit|reserve>.<key>` properties.
import type { CommandSpec, Ctx } from '../context.js';
import type { FlagSpec } from '../output.js';
import { goReportKey } from '../output.js';
import { runReport } from '../report.js';
import type { ReportDef } from '../report.js';

const KEYS = ['cpu', 'memory', 'memory-swap', 'network', 'network-ingress', 'network-egress', 'nvidia-gpu'];

function resourceFlags(): FlagSpec[] {
  return [
    { name: 'process-type', type: 'string', usage: 'process type to manage' },
    ...KEYS.map((k): FlagSpec => ({ name: k, type: 'string', usage: `${k} limit` })),
  ];
}

const resourceReport: ReportDef = {
  type: 'resource',
  prefix: '--resource-',
  implementation: 'go',
  // Not capitalised; before 0.38.8 the `resource` prefix is trimmed from the text.
  textKey: (ctx, flag) => goReportKey(ctx.features.reportJsonUnprefixed ? flag : flag.replace(/^--resource-/, '--'), false),
  goJson: 'legacy-and-unprefixed',
  legacyStrip: '--resource-',
  rows(_ctx, _name, app) {
    return Object.keys(app.resources).map((k) => [`--resource-${k}`, app.resources[k]!] as [string, string]);
  },
};

function setResources(kind: 'limit' | 'reserve'): CommandSpec {
  const noun = kind === 'limit' ? 'limits' : 'reservation';
  return {
    family: 'go',
    core: true,
    mutating: true,
    flags: resourceFlags,
    run(ctx: Ctx, args, flags) {
      const name = args[0];
      ctx.verifyAppGo(name);
      const type = (flags['process-type'] as string | undefined) || '_default_';
      const given = KEYS.filter((k) => typeof flags[k] === 'string');
      const label = type === '_default_' ? '' : ` (${type})`;
      if (given.length === 0) {
        const app = ctx.verifyAppGo(name);
        ctx.out.info2(`resource ${noun === 'limits' ? 'limits' : 'reservation'} ${name} information ${type === '_default_' ? '[defaults]' : `(${type})`}`);
        for (const k of KEYS) ctx.out.verbose(`${k}: ${app.resources[`${type}.${kind}.${k}`] ?? ''}`);
        return;
      }
      ctx.store.transact((s) => {
        const app = ctx.verifyAppGo(name, s);
        for (const k of given) {
          const v = flags[k] as string;
          if (v === 'clear') delete app.resources[`${type}.${kind}.${k}`];
          else app.resources[`${type}.${kind}.${k}`] = v;
        }
      });
      ctx.out.info2(`Setting resource ${noun} for ${name}${label}`);
      for (const k of given) ctx.out.verbose(`${k}: ${flags[k] === 'clear' ? 'cleared' : String(flags[k])}`);
    },
  };
}

function clearResources(kind: 'limit' | 'reserve'): CommandSpec {
  return {
    family: 'go',
    core: true,
    mutating: true,
    flags: [{ name: 'process-type', type: 'string', usage: 'process type to manage' }],
    run(ctx, args, flags) {
      const name = args[0];
      const type = flags['process-type'] as string | undefined;
      ctx.store.transact((s) => {
        const app = ctx.verifyAppGo(name, s);
        for (const k of Object.keys(app.resources)) {
          const [t, kd] = k.split('.');
          if (kd === kind && (!type || t === type)) delete app.resources[k];
        }
      });
      ctx.out.info2(`clearing ${name} ${kind === 'limit' ? 'limits' : 'reservation'}${type ? ` (${type})` : ''}`);
    },
  };
}

export const resourceCommands: Record<string, CommandSpec> = {
  'resource:limit': setResources('limit'),
  'resource:reserve': setResources('reserve'),
  'resource:limit-clear': clearResources('limit'),
  'resource:reserve-clear': clearResources('reserve'),
  'resource:report': { family: 'go', rawArgs: true, core: true, run: (ctx, args) => runReport(ctx, resourceReport, args) },
};
