// What the pages say about an instance: its status in words, the outcome of what was asked of it
// (a restart, a reset, a change of its settings) as the controller reports it, and what waits for a
// freeze window. Pure: the declared spec, the status and the events in, sentences out, at `now`.
import type { Condition, InstanceEvent, InstanceStatus, Phase } from '../engine/status.js';
import type { OTreeInstanceSpec } from '../manifest/types.js';
import type { Text } from './text.js';
import type { LabTime } from './time.js';

export type Tone = 'ok' | 'busy' | 'warn' | 'bad' | 'idle';

export interface Outcome {
  tone: Tone;
  text: string;
}

export interface InstanceSummary {
  name: string;
  phase: Phase | 'Unknown';
  phaseText: string;
  tone: Tone;
  ready: boolean;
  /** "Running since 14:05", "Waiting for your first git push", … */
  headline: string;
  urls: string[];
  /** What was asked and not yet carried out, or just carried out; newest concern first. */
  outcomes: Outcome[];
  /** Actions a freeze window holds back, in words. */
  deferred: string[];
  /** Conditions that are not as they should be (for a dashboard's "needs attention"). */
  attention: string[];
  lastCheckedText?: string;
}

const TONE: Record<Phase, Tone> = {
  Pending: 'idle', Deploying: 'busy', Running: 'ok', Stopped: 'idle', Failed: 'bad', Deleting: 'busy', Orphaned: 'warn',
};

function condition(status: InstanceStatus, type: Condition['type']): Condition | undefined {
  return status.conditions.find((c) => c.type === type);
}

/** A deferred command in words: what it does to the instance. */
function deferredWhat(action: string): string {
  if (/resetdb/.test(action)) return 'The database reset';
  if (/ps:restart|OTM_RESTART_GENERATION/.test(action)) return 'The restart';
  if (/ps:stop/.test(action)) return 'Stopping';
  if (/ps:(start|scale|rebuild)/.test(action)) return 'Starting the processes';
  if (/config:set/.test(action)) return 'Applying the new settings';
  return `"${action}"`;
}

/** The newest event whose message names `command` (events come newest first). */
function lastApplied(events: readonly InstanceEvent[], command: RegExp): InstanceEvent | undefined {
  return events.find((e) => (e.reason === 'Applied' || e.reason === 'AlreadyDone') && command.test(e.message));
}

export interface SummaryInput {
  name: string;
  spec?: OTreeInstanceSpec;
  /** The row's (or file's) generation; undefined for an instance declared nowhere. */
  generation?: number;
  status?: InstanceStatus | null;
  events?: readonly InstanceEvent[];
  now: Date;
  text: Text;
  time: LabTime;
}

export function summarize({ name, spec, generation, status, events = [], now, text: t, time }: SummaryInput): InstanceSummary {
  if (!status) {
    return {
      name, phase: 'Unknown', phaseText: 'Not seen yet', tone: 'idle', ready: false, headline: t.status.unknown,
      urls: [], outcomes: [], deferred: [], attention: [],
    };
  }
  const ready = condition(status, 'Ready');
  const at = (iso: string | undefined) => (iso ? time.short(iso, now) : '');
  const headline = ((): string => {
    switch (status.phase) {
      case 'Running': return ready?.status === 'True' ? t.status.runningSince(at(ready.lastTransitionTime)) : `${t.status.notReady}: ${ready?.message ?? ''}`;
      case 'Pending': return ready?.reason === 'AwaitingDeploy' ? t.status.awaitingPush : ready?.message ?? t.status.awaitingPush;
      case 'Deploying': return t.status.deploying;
      case 'Stopped': return t.status.stoppedSince(at(ready?.lastTransitionTime));
      case 'Failed': return t.status.failed(status.lastError?.message ?? ready?.message ?? '');
      case 'Deleting': return t.status.deleting;
      case 'Orphaned': return t.status.orphaned;
    }
  })();

  const deferred = status.deferred.map((d) => t.status.waitsForWindow(deferredWhat(d.action), time.short(d.until, now)));
  const isDeferred = (pattern: RegExp) => status.deferred.some((d) => pattern.test(d.action));
  const outcomes: Outcome[] = [];
  if (spec) {
    if (spec.restart.generation > status.done.restart) {
      outcomes.push(isDeferred(/ps:restart|OTM_RESTART_GENERATION/) ? { tone: 'warn', text: deferred.find((d) => d.startsWith('The restart')) ?? t.outcome.restartRequested } : { tone: 'busy', text: t.outcome.restartRequested });
    } else if (spec.restart.generation > 0) {
      const done = lastApplied(events, /restart generation|ps:restart/);
      if (done) outcomes.push({ tone: 'ok', text: t.outcome.restartDone(at(done.at)) });
    }
    if (spec.resetDatabase.generation > status.done.resetDatabase) {
      outcomes.push(isDeferred(/resetdb/) ? { tone: 'warn', text: deferred.find((d) => d.startsWith('The database reset')) ?? t.outcome.resetRequested } : { tone: 'busy', text: t.outcome.resetRequested });
    } else if (spec.resetDatabase.generation > 0) {
      const done = lastApplied(events, /resetdb/);
      if (done) outcomes.push({ tone: 'ok', text: t.outcome.resetDone(at(done.at)) });
    }
    if (generation !== undefined && generation > status.observedGeneration) {
      outcomes.push({ tone: 'busy', text: t.outcome.changeApplying(generation) });
    } else if (spec.state === 'stopped' && status.phase !== 'Stopped') {
      outcomes.push({ tone: 'busy', text: t.outcome.stopRequested });
    } else if (spec.state === 'running' && status.phase === 'Stopped') {
      outcomes.push({ tone: 'busy', text: t.outcome.startRequested });
    }
  }
  // A freeze window is no trouble: what it holds back is listed under `deferred`.
  const attention = status.conditions
    .filter((c) => (c.type === 'Ready' ? c.status === 'False' && !['AwaitingDeploy', 'Stopped'].includes(c.reason)
      : c.type !== 'Reconciling' && c.status === 'True' && c.reason !== 'FreezeWindow'))
    .map((c) => `${c.type === 'Ready' ? t.status.notReady : c.type}: ${c.message}`);
  return {
    name,
    phase: status.phase,
    phaseText: t.phase[status.phase],
    tone: status.phase === 'Running' && ready?.status !== 'True' ? 'warn' : TONE[status.phase],
    ready: ready?.status === 'True',
    headline,
    urls: status.urls,
    outcomes,
    deferred: [...new Set(deferred)].filter((d) => !outcomes.some((o) => o.text === d)),
    attention,
    ...(status.lastSyncedAt ? { lastCheckedText: t.status.syncedAt(at(status.lastSyncedAt)) } : {}),
  };
}
