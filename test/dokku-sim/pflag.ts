// spf13/pflag as Dokku's Go subcommands use it (ExitOnError): flags before or after positionals,
// `--flag=value` and `--flag value`, `--` ends flags, unknown flags print the usage and exit 2.
import type { Ctx, ParsedFlags } from './context.js';
import type { FlagSpec } from './output.js';
import { Exit, pflagUsage } from './output.js';

export function parseFlags(ctx: Ctx, command: string, specs: FlagSpec[], args: string[]): { flags: ParsedFlags; positionals: string[] } {
  const flags: ParsedFlags = {};
  const positionals: string[] = [];
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.shorthand).map((s) => [s.shorthand!, s]));
  const die = (message: string): never => {
    ctx.out.err(pflagUsage(command, specs));
    ctx.out.err(`${message}\n`);
    throw new Exit(2);
  };
  const assign = (spec: FlagSpec, value: string | undefined, next: () => string | undefined, shown: string): void => {
    if (spec.type === 'bool') {
      if (value !== undefined && !['true', 'false', '1', '0', 't', 'f', 'TRUE', 'FALSE', 'True', 'False'].includes(value)) {
        die(`invalid argument "${value}" for "${shown}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`);
      }
      flags[spec.name] = value === undefined ? true : ['true', '1', 't', 'TRUE', 'True'].includes(value);
      return;
    }
    const v = value ?? next();
    if (v === undefined) die(`flag needs an argument: ${shown}`);
    if (spec.type === 'int' && !/^-?\d+$/.test(v!)) die(`invalid argument "${v}" for "${shown}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
    if (spec.type === 'stringArray') flags[spec.name] = [...((flags[spec.name] as string[] | undefined) ?? []), v!];
    else flags[spec.name] = v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = () => (i + 1 < args.length ? args[++i] : undefined);
    if (a === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a === '--help' || a === '-h') {
      ctx.out.err(pflagUsage(command, specs));
      throw new Exit(0);
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byName.get(name);
      if (!spec) die(`unknown flag: --${name}`);
      assign(spec!, eq < 0 ? undefined : a.slice(eq + 1), next, `--${name}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      const short = a[1]!;
      const spec = byShort.get(short);
      if (!spec) die(`unknown shorthand flag: '${short}' in ${a}`);
      const rest = a.slice(2).replace(/^=/, '');
      assign(spec!, rest === '' ? undefined : rest, next, `-${short}, --${spec!.name}`);
      continue;
    }
    positionals.push(a);
  }
  for (const s of specs) if (flags[s.name] === undefined && s.default !== undefined && s.type !== 'bool') flags[s.name] = s.default;
  return { flags, positionals };
}
