// config:* (Go): storage normalised like godotenv's Marshal, every export format, and the restart
// a deployed app gets on every config:set / config:unset (even when nothing changed).
import type { CommandSpec, Ctx } from '../context.js';
import { byteOrder, columnize, Exit, goJsonMap, goJsonString } from '../output.js';
import type { AppState } from '../state.js';
import { restartAfterConfigChange } from '../deploy.js';

const KEY = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** godotenv.Marshal writes values that strconv.Atoi accepts as bare integers: `007` is stored as `7`. */
export function normaliseStored(value: string): string {
  if (!/^[+-]?\d+$/.test(value)) return value;
  const n = BigInt(value);
  if (n > 9223372036854775807n || n < -9223372036854775808n) return value;
  return n.toString();
}

function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

function godotenvLine(k: string, v: string): string {
  if (/^[+-]?\d+$/.test(v) && normaliseStored(v) === v) return `${k}=${v}`;
  const escaped = v.replace(/[\\\n\r"!$`]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
  return `${k}="${escaped}"`;
}

function sortedEntries(config: Record<string, string>): [string, string][] {
  return Object.keys(config).sort(byteOrder).map((k) => [k, config[k]!]);
}

export function configTable(config: Record<string, string>, prefix = ''): string[] {
  return columnize(sortedEntries(config).map(([k, v]) => [`${k}:`, v.trim()]), prefix);
}

function exportAs(format: string, config: Record<string, string>): string | undefined {
  const entries = sortedEntries(config);
  switch (format) {
    case 'exports': return `${entries.map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n')}\n`;
    case 'envfile': return `${entries.map(([k, v]) => godotenvLine(k, v)).join('\n')}\n`;
    case 'shell': return `${entries.map(([k, v]) => `${k}=${shellQuote(v)} `).join('')}${entries.length ? '' : ' '}`;
    case 'docker-args': return `${entries.map(([k, v]) => `--env=${k}=${shellQuote(v)}`).join(' ')}\n`;
    case 'docker-args-keys': return `${entries.map(([k]) => `--env=${k}`).join(' ')}\n`;
    case 'pack-keys': return `${entries.map(([k]) => `--env ${k}`).join(' ')}\n`;
    case 'json': return `${goJsonMap(config)}\n`;
    case 'json-list':
      return entries.length === 0 ? 'null\n' : `[${entries.map(([k, v]) => `{"name":${goJsonString(k)},"value":${goJsonString(v)}}`).join(',')}]\n`;
    case 'pretty': return `${configTable(config).join('\n')}\n`;
    default: return undefined;
  }
}

function appArg(ctx: Ctx, args: string[]): string {
  const name = args[0];
  if (name === '--global') ctx.out.fail('The --global config is not supported by this simulator; pass an app name');
  return name ?? '';
}

/** config:set's work without output, shared with the service plugins' link (which sets one URL). */
export function setConfig(ctx: Ctx, name: string, pairs: [string, string][]): AppState {
  return ctx.store.transact((s) => {
    const app = ctx.verifyAppGo(name, s);
    for (const [k, v] of pairs) app.config[k] = normaliseStored(v);
    return app;
  });
}

export const configCommands: Record<string, CommandSpec> = {
  'config:show': {
    family: 'go',
    core: true,
    flags: [{ name: 'merged', type: 'bool', usage: '--merged: display the app\'s environment merged with the global environment' }],
    run(ctx, args) {
      const name = appArg(ctx, args);
      const app = ctx.verifyAppGo(name);
      ctx.out.info2Quiet(`${name} env vars`);
      const lines = configTable(app.config);
      ctx.out.line(lines.length ? lines.join('\n') : '');
    },
  },
  'config:get': {
    family: 'go',
    core: true,
    flags: [{ name: 'quoted', type: 'bool', usage: '--quoted: get the value quoted' }],
    run(ctx, args, flags) {
      const name = appArg(ctx, args);
      const app = ctx.verifyAppGo(name);
      if (args.length < 2) ctx.out.fail('Expected: key');
      if (args.length > 2) ctx.out.fail(`Unexpected argument(s): [${args.slice(2).join(' ')}]`);
      const value = app.config[args[1]!];
      if (value === undefined) throw new Exit(1);
      ctx.out.line(flags.quoted ? shellQuote(value) : value);
    },
  },
  'config:keys': {
    family: 'go',
    core: true,
    flags: [{ name: 'merged', type: 'bool', usage: '--merged: display the app\'s environment merged with the global environment' }],
    run(ctx, args) {
      const app = ctx.verifyAppGo(appArg(ctx, args));
      for (const [k] of sortedEntries(app.config)) ctx.out.line(k);
    },
  },
  'config:export': {
    family: 'go',
    core: true,
    flags: [
      { name: 'format', type: 'string', default: 'exports', usage: '--format: [ docker-args | docker-args-keys | envfile | exports | json | json-list | pack-keys | pretty | shell ] which format to export as)' },
      { name: 'merged', type: 'bool', usage: '--merged: display the app\'s environment merged with the global environment' },
    ],
    run(ctx, args, flags) {
      const app = ctx.verifyAppGo(appArg(ctx, args));
      const format = (flags.format as string | undefined) ?? 'exports';
      const text = exportAs(format, app.config);
      if (text === undefined) return ctx.out.fail(`Unknown export format: ${format}`);
      ctx.out.out(text);
    },
  },
  'config:set': {
    family: 'go',
    core: true,
    mutating: true,
    flags: [
      { name: 'encoded', type: 'bool', usage: '--encoded: interpret VALUEs as base64' },
      { name: 'no-restart', type: 'bool', usage: '--no-restart: no restart' },
    ],
    async run(ctx, args, flags) {
      const name = appArg(ctx, args);
      ctx.verifyAppGo(name);
      const raw = args.slice(1);
      if (raw.length === 0) ctx.out.fail('At least one env pair must be given');
      const pairs: [string, string][] = [];
      for (const pair of raw) {
        const eq = pair.indexOf('=');
        if (eq < 0) ctx.out.fail(`Invalid env pair: ${pair}`);
        const key = pair.slice(0, eq);
        let value = pair.slice(eq + 1);
        if (!KEY.test(key)) ctx.out.fail(`Invalid key name: '${key}'`);
        if (flags.encoded) value = decodeBase64(ctx, key, value);
        pairs.push([key, value]);
      }
      const app = setConfig(ctx, name, pairs);
      ctx.out.info1Quiet('Setting config vars');
      if (!ctx.out.quiet) for (const l of configTable(Object.fromEntries(pairs), '       ')) ctx.out.line(l);
      if (!flags['no-restart']) await restartAfterConfigChange(ctx, name, app);
    },
  },
  'config:unset': {
    family: 'go',
    core: true,
    mutating: true,
    flags: [{ name: 'no-restart', type: 'bool', usage: '--no-restart: no restart' }],
    async run(ctx, args, flags) {
      const name = appArg(ctx, args);
      ctx.verifyAppGo(name);
      const keys = args.slice(1);
      if (keys.length === 0) ctx.out.fail('At least one key must be given');
      const { app, present } = ctx.store.transact((s) => {
        const a = ctx.verifyAppGo(name, s);
        const had = keys.filter((k) => k in a.config);
        for (const k of keys) delete a.config[k];
        return { app: a, present: new Set(had) };
      });
      for (const k of keys) {
        if (present.has(k)) ctx.out.info1Quiet(`Unsetting ${k}`);
        else ctx.out.info1Quiet(`Skipping ${k}, it is not set in the environment`);
      }
      if (!flags['no-restart']) await restartAfterConfigChange(ctx, name, app);
    },
  },
};

/** Go's base64.StdEncoding.DecodeString, with its error text. */
function decodeBase64(ctx: Ctx, key: string, value: string): string {
  const bad = value.search(/[^A-Za-z0-9+/=]/);
  const padOk = /^[A-Za-z0-9+/]*={0,2}$/.test(value) && value.length % 4 === 0;
  if (bad >= 0 || !padOk) {
    const at = bad >= 0 ? bad : value.length - (value.length % 4);
    ctx.out.fail(`illegal base64 data at input byte ${at} for key '${key}'`);
  }
  return Buffer.from(value, 'base64').toString('utf8');
}
