// Status conditions after a reconcile pass, Kubernetes style: Ready, Reconciling, Stalled, Degraded,
// each True/False with a CamelCase reason. A condition's lastTransitionTime moves only when its status
// flips, so "Ready since 09:12" stays true across passes that change nothing.

import type { Condition, ConditionType, Phase } from '../engine/status.js';
import type { ObservedApp } from '../observed/types.js';
import type { Plan } from './action.js';

export type Outcome =
  /** Every planned action ran (or there was none). */
  | { applied: true }
  /** An action failed. `retrying`: the engine tries again with backoff; false: it needs a person. */
  | { applied: false; error: string; code: string; retrying: boolean };

export interface ConditionInput {
  previous: readonly Condition[];
  plan: Plan;
  outcome: Outcome;
  observed?: ObservedApp;
  now: Date;
}

type Draft = Omit<Condition, 'lastTransitionTime'>;

/** Containers of the app that should run and do not: crashed, restarting or killed for memory. */
function brokenProcesses(observed: ObservedApp | undefined): string[] {
  return (observed?.containers ?? [])
    .filter((c) => c.state !== 'running' || c.oomKilled || c.health === 'unhealthy')
    .map((c) => `${c.dyno} ${c.oomKilled ? 'was killed for lack of memory' : c.health === 'unhealthy' ? 'is unhealthy' : `is ${c.state}`}`);
}

function ready(input: ConditionInput, broken: string[]): Draft {
  const { plan, outcome } = input;
  if (plan.blocked) return { type: 'Ready', status: 'False', reason: plan.blocked.reason, message: plan.blocked.message };
  if (!outcome.applied) return { type: 'Ready', status: 'False', reason: outcome.code, message: outcome.error };
  if (plan.phase === 'Stopped') {
    return { type: 'Ready', status: 'False', reason: 'Stopped', message: plan.notes.find((n) => n.startsWith('expired')) ?? 'declared stopped' };
  }
  if (plan.phase === 'Pending') {
    return { type: 'Ready', status: 'False', reason: 'AwaitingDeploy', message: plan.notes.find((n) => n.startsWith('waiting')) ?? 'nothing deployed yet' };
  }
  if (broken.length > 0 && plan.phase === 'Running') {
    return { type: 'Ready', status: 'False', reason: 'ProcessesNotRunning', message: broken.join('; ') };
  }
  return { type: 'Ready', status: 'True', reason: plan.phase === 'Deploying' ? 'Deployed' : 'Running', message: 'running as declared' };
}

function reconciling({ plan, outcome }: ConditionInput): Draft {
  if (!outcome.applied && outcome.retrying) return { type: 'Reconciling', status: 'True', reason: 'Retrying', message: outcome.error };
  if (outcome.applied && plan.actions.length > 0) {
    return { type: 'Reconciling', status: 'True', reason: 'ChangesApplied', message: `${plan.actions.length} change(s) applied; the next pass confirms them` };
  }
  return { type: 'Reconciling', status: 'False', reason: 'InSync', message: 'nothing left to change' };
}

function stalled({ plan, outcome }: ConditionInput): Draft {
  if (plan.blocked) return { type: 'Stalled', status: 'True', reason: plan.blocked.reason, message: plan.blocked.message };
  if (!outcome.applied && !outcome.retrying) return { type: 'Stalled', status: 'True', reason: outcome.code, message: outcome.error };
  return { type: 'Stalled', status: 'False', reason: 'Progressing', message: 'no obstacle' };
}

function degraded({ plan }: ConditionInput, broken: string[]): Draft {
  if (plan.deferred.length > 0) {
    const until = plan.deferred.map((d) => d.until).sort()[0];
    return { type: 'Degraded', status: 'True', reason: 'FreezeWindow', message: `${plan.deferred.length} action(s) deferred until ${until}` };
  }
  if (broken.length > 0 && plan.phase === 'Running') return { type: 'Degraded', status: 'True', reason: 'ProcessesNotRunning', message: broken.join('; ') };
  return { type: 'Degraded', status: 'False', reason: 'AsDeclared', message: 'nothing held back' };
}

export function conditionsFor(input: ConditionInput): Condition[] {
  const broken = brokenProcesses(input.observed);
  const drafts = [ready(input, broken), reconciling(input), stalled(input), degraded(input, broken)];
  const before = new Map<ConditionType, Condition>(input.previous.map((c) => [c.type, c]));
  return drafts.map((d) => {
    const prev = before.get(d.type);
    const lastTransitionTime = prev && prev.status === d.status ? prev.lastTransitionTime : input.now.toISOString();
    return { ...d, lastTransitionTime };
  });
}

/** The phase to report after a pass: the plan's, unless an action failed. */
export function phaseAfter(plan: Plan, outcome: Outcome): Phase {
  return outcome.applied ? plan.phase : 'Failed';
}
