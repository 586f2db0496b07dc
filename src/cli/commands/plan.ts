// `otm plan [NAME]`: what `otm run` would do now, rendered exactly as it would run (secrets masked).
// Exit 0 when everything is in sync, 2 when changes are pending, 1 on error.
import type { Command } from 'commander';
import { Option } from 'commander';
import { loadConfig } from '../../config.js';
// Heavy modules (the daemon, fastify, pg, dockerode) load inside the action, so other commands start fast.
import { sortIssues } from '../../manifest/index.js';
import { count, issueLines, painter } from '../output.js';

interface PlanOptions {
  output: 'text' | 'json';
  config?: string;
}

export const EXIT_IN_SYNC = 0;
export const EXIT_ERROR = 1;
export const EXIT_PENDING = 2;

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('print what `otm run` would do now, without changing anything (exit 0 in sync, 2 changes pending, 1 error)')
    .argument('[name]', 'only this instance')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (name: string | undefined, _options: PlanOptions, command: Command) => {
      const options = command.optsWithGlobals<PlanOptions>();
      const { config } = await loadConfig(options.config !== undefined ? { path: options.config } : {});
      const { planOnce } = await import('../../engine/plan-once.js');
      const { plans, issues } = await planOnce({ config, now: new Date(), ...(name !== undefined ? { name } : {}) });
      const failed = plans.filter((p) => p.error !== undefined || p.plan.blocked !== undefined);
      const pending = plans.filter((p) => p.plan.actions.length > 0 || p.plan.deferred.length > 0);
      if (options.output === 'json') {
        process.stdout.write(`${JSON.stringify({
          plans: plans.map((p) => ({
            name: p.name, host: p.host, phase: p.plan.phase,
            actions: p.plan.actions.map((a) => ({ command: a.display, reason: a.reason, mutating: a.mutating, disruptive: a.disruptive })),
            deferred: p.plan.deferred, notes: p.plan.notes,
            ...(p.plan.blocked ? { blocked: p.plan.blocked } : {}), ...(p.error !== undefined ? { error: p.error } : {}),
          })),
          issues: sortIssues(issues),
        }, null, 2)}\n`);
      } else {
        const paint = painter(process.stdout);
        for (const line of issueLines(sortIssues(issues), painter(process.stderr))) process.stderr.write(`${line}\n`);
        for (const p of plans) {
          const head = `${paint('bold', p.name)} (host ${p.host}, ${p.plan.phase})`;
          if (p.error !== undefined) {
            process.stdout.write(`${head}: ${paint('red', `cannot plan: ${p.error}`)}\n`);
            continue;
          }
          if (p.plan.blocked) {
            process.stdout.write(`${head}: ${paint('red', `blocked (${p.plan.blocked.reason}): ${p.plan.blocked.message}`)}\n`);
            continue;
          }
          const inSync = p.plan.actions.length === 0 && p.plan.deferred.length === 0;
          process.stdout.write(`${head}: ${inSync ? paint('green', 'in sync') : paint('yellow', `${count(p.plan.actions.length, 'change')}`)}\n`);
          for (const a of p.plan.actions) process.stdout.write(`  ${a.display}\n      ${paint('dim', `# ${a.reason}`)}\n`);
          for (const d of p.plan.deferred) process.stdout.write(`  ${paint('yellow', `deferred until ${d.until}`)}: ${d.action}\n      ${paint('dim', `# ${d.reason}`)}\n`);
          for (const n of p.plan.notes) process.stdout.write(`  ${paint('dim', `note: ${n}`)}\n`);
        }
        const summary = `${count(plans.length, 'instance')}: ${count(pending.length, 'with changes pending', )}, ${count(failed.length, 'failed')}`;
        process.stderr.write(`${summary}\n`);
      }
      process.exitCode = failed.length > 0 ? EXIT_ERROR : pending.length > 0 ? EXIT_PENDING : EXIT_IN_SYNC;
    });
}
