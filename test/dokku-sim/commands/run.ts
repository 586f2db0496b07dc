// dokku run: a one-off container from the deployed image with the app's config; the exit status is
// the command's. Without Docker the stand-in's `otree` command is emulated.
import type { CommandSpec, Ctx } from '../context.js';
import { Exit } from '../output.js';
import type { AppState } from '../state.js';
import { runOneOff } from '../containers.js';

/** What the stand-in image's /bin/otree does, for runs without a Docker Engine. */
function emulate(ctx: Ctx, app: AppState, cmd: string[]): number {
  const [program, ...rest] = cmd;
  if (program === 'otree' && rest[0] === 'resetdb') {
    if (rest[1] !== '--noinput') {
      ctx.out.out('This will drop all tables and reset the database. Proceed? (y or n): ');
      ctx.out.stderrLine('EOFError: EOF when reading a line');
      return 1;
    }
    ctx.out.stderrLine(`Database engine: ${app.config.DATABASE_URL?.startsWith('postgres') ? 'postgresql' : 'sqlite'}`);
    ctx.out.stderrLine('Created new tables and columns.');
    return 0;
  }
  if (program === 'otree') {
    ctx.out.stderrLine(`Unknown command: otree ${rest[0] ?? ''}`);
    return 1;
  }
  if (program === 'true') return 0;
  if (program === 'false') return 1;
  const exit = /^exit (\d+)$/.exec(rest[1] ?? '');
  if ((program === 'sh' || program === '/bin/sh') && rest[0] === '-c' && exit) return Number(exit[1]);
  ctx.out.stderrLine(`sh: ${program}: not found`);
  return 127;
}

export const runCommand: CommandSpec = {
  family: 'bash',
  core: true,
  mutating: true,
  async run(ctx, args) {
    const env: string[] = [];
    let i = 0;
    for (; i < args.length; i++) {
      const a = args[i]!;
      if (a === '-e' || a === '--env') env.push(args[++i] ?? '');
      else if (a.startsWith('--env=')) env.push(a.slice('--env='.length));
      else if (a === '--no-tty' || a === '--force-tty') continue;
      else if (a === '--ttl-seconds') {
        const ttl = args[++i] ?? '';
        if (!/^[1-9]\d*$/.test(ttl)) ctx.out.fail('--ttl-seconds must be a positive integer');
      } else break;
    }
    const name = args[i];
    const cmd = args.slice(i + 1);
    const app = ctx.verifyAppBash(name);
    if (!app.deployed) {
      ctx.out.warn(`App image (dokku/${name}:latest) not found`);
      ctx.out.warn("Invalid image stage detected: expected 'release', got ''");
      ctx.out.fail('Successfully deploy your app to fix dokku run calls');
    }
    if (cmd.length === 0) return;
    const code = (await runOneOff(ctx, name!, app, cmd, env)) ?? emulate(ctx, app, cmd);
    if (code !== 0) throw new Exit(code);
  },
};
