// The `dokku` executable of the simulator: global flags, dispatch to the command table, fault
// injection and the invocation log. See docs/simulator.md for what it implements.
import { appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ctx } from './context.js';
import type { CommandSpec, Family } from './context.js';
import { Exit } from './output.js';
import { Store, rootIdOf } from './state.js';
import { DEFAULT_VERSION, features, parseVersion } from './version.js';
import { loadFaults } from './faults.js';
import type { Faults } from './faults.js';
import { parseFlags } from './pflag.js';
import { STANDIN_IMAGE } from './standin.js';
import { commandTable, installedPlugins } from './commands/index.js';

interface GlobalFlags {
  quiet: boolean;
  force: boolean;
  app?: string;
  /** argv without the leading global flags. */
  rest: string[];
}

/** Dokku's parse_args: global flags are honoured anywhere, but only leading ones are removed. */
export function parseGlobalFlags(argv: string[]): GlobalFlags {
  const flags: GlobalFlags = { quiet: false, force: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quiet') flags.quiet = true;
    else if (a === '--force') flags.force = true;
    else if (a === '--app') flags.app = argv[i + 1];
  }
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('--') && argv[i] !== '--version') {
    i += argv[i] === '--app' ? 2 : 1;
  }
  flags.rest = argv.slice(i);
  return flags;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function dispatch(ctx: Ctx, argv: string[]): Promise<void> {
  const global = parseGlobalFlags(argv);
  ctx.out.quiet = global.quiet;
  ctx.force = global.force;
  ctx.appFlag = global.app;
  const [command, ...args] = global.rest;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    ctx.out.line('Usage: dokku [--quiet|--trace|--force] COMMAND <app> [command-specific-options]');
    return;
  }
  if (command === 'version' || command === '-v' || command === '--version') {
    ctx.out.line(`dokku version ${ctx.version.text}`);
    return;
  }
  ctx.command = command;
  const spec = commandTable[command];
  const plugin = command.split(':')[0]!;
  if (!spec || !installedPlugins(ctx.env).has(plugin)) {
    ctx.out.fail(`\`${global.rest.join(' ')}\` is not a dokku command.\nSee \`dokku help\` for a list of available commands.`);
  }
  const withApp = spec.core && global.app !== undefined ? [global.app, ...args] : args;
  const family: Family = typeof spec.family === 'function' ? spec.family(ctx) : spec.family;
  if (family === 'go' && !spec.rawArgs) {
    const specs = typeof spec.flags === 'function' ? spec.flags(ctx) : spec.flags ?? [];
    const { flags, positionals } = parseFlags(ctx, command, specs, withApp);
    await spec.run(ctx, positionals, flags);
  } else {
    await spec.run(ctx, withApp, {});
  }
}

/** argv as logged: config values and passwords are masked, the log must not hold secrets. */
export function maskedArgv(argv: string[]): string[] {
  const command = parseGlobalFlags(argv).rest[0] ?? '';
  return argv.map((a, i) => {
    if (/^(config:set|run)$/.test(command) && /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) return `${a.slice(0, a.indexOf('='))}=********`;
    if (/^(--password|-p|--root-password|-r)$/.test(argv[i - 1] ?? '') && command.endsWith(':create')) return '********';
    return a;
  });
}

export function isMutating(argv: string[]): boolean {
  const [command, ...args] = parseGlobalFlags(argv).rest;
  const spec: CommandSpec | undefined = command ? commandTable[command] : undefined;
  return typeof spec?.mutating === 'function' ? spec.mutating(args) : spec?.mutating === true;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const env = process.env;
  const started = performance.now();
  const rootEnv = env.DOKKU_SIM_ROOT;
  if (!rootEnv) {
    process.stderr.write(' !     DOKKU_SIM_ROOT is not set: point it at the directory that holds the simulated host\'s state\n');
    return 1;
  }
  const root = resolve(rootEnv);
  const store = new Store(root);
  let code = 0;
  let faults: Faults;
  try {
    faults = loadFaults(root, env);
  } catch (err) {
    process.stderr.write(` !     ${(err as Error).message}\n`);
    return 1;
  }
  if (faults.hang?.test(argv.join(' '))) {
    // A call that never answers, so callers' timeouts are exercised.
    await new Promise<never>(() => setInterval(() => undefined, 1 << 30));
  }
  if (faults.latencyMs > 0) await sleep(faults.latencyMs);
  const id = rootIdOf(root);
  const ctx = new Ctx(
    parseVersion(env.DOKKU_SIM_VERSION ?? DEFAULT_VERSION),
    features(parseVersion(env.DOKKU_SIM_VERSION ?? DEFAULT_VERSION)),
    store,
    {
      globalDomain: env.DOKKU_SIM_GLOBAL_DOMAIN ?? '',
      docker: env.DOKKU_SIM_DOCKER ?? 'auto',
      buildImage: env.DOKKU_SIM_BUILD_IMAGE ?? STANDIN_IMAGE,
      containerPrefix: env.DOKKU_SIM_CONTAINER_PREFIX ?? `dokku-sim-${id}-`,
      rootId: id,
      network: env.DOKKU_SIM_NETWORK === 'bridge' ? 'bridge' : 'host',
    },
    faults,
    env,
  );
  try {
    if (faults.failRate > 0 && Math.random() < faults.failRate) {
      ctx.out.warn('Simulated transient failure (DOKKU_SIM_FAIL_RATE): nothing was changed, try again');
      throw new Exit(Number(env.DOKKU_SIM_FAIL_EXIT ?? 1));
    }
    await dispatch(ctx, argv);
  } catch (err) {
    if (err instanceof Exit) code = err.code;
    else {
      ctx.out.warn((err as Error).message);
      code = 1;
    }
  }
  const entry = { ts: new Date().toISOString(), argv: maskedArgv(argv), exit: code, ms: Math.round((performance.now() - started) * 10) / 10, mutating: isMutating(argv) };
  appendFileSync(join(root, 'invocations.jsonl'), `${JSON.stringify(entry)}\n`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(` !     ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
