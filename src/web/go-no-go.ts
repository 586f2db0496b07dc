// The check an experimenter runs before a session with real participants: every item green, or red
// with what to do. Pure: the declared spec, the status and what the page found out (a stored
// password, the lobby's answer) in, the checks out, at `now`.
import type { InstanceStatus } from '../engine/status.js';
import type { OTreeInstanceSpec } from '../manifest/types.js';
import type { Text } from './text.js';
import type { LabTime } from './time.js';

export interface Check {
  id: 'ready' | 'production' | 'authLevel' | 'password' | 'processes' | 'backup' | 'freeze' | 'rooms' | 'lobby';
  ok: boolean;
  /** What is so (green) or what to do (red). */
  text: string;
}

/** A freeze window passes the check when it is on (or starts) within this time and lasts at least this long: a session's hour. */
export const FREEZE_AHEAD_MS = 3_600_000;

export interface GoNoGoInput {
  spec: OTreeInstanceSpec;
  status: InstanceStatus | null;
  /** Whether an admin password is there: stored for a row, named by a file for a manifest. */
  passwordSet: boolean;
  /** The newest verified backup's time, when backups are taken. */
  lastBackupAt?: Date;
  /** Whether the lobby of the first room answered; undefined when there is no room or the lobby is off. */
  lobbyAnswers?: boolean;
  now: Date;
  time: LabTime;
  text: Text['goNoGo'];
}

export function goNoGo({ spec, status, passwordSet, lastBackupAt, lobbyAnswers, now, time, text: t }: GoNoGoInput): Check[] {
  const ready = status?.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const oneWeb = spec.otree.version !== '5' || spec.processes.web === 1;
  const at = (d: Date | string) => time.short(d, now);
  const covering = spec.freezeWindows
    .filter((w) => Date.parse(w.from) <= now.getTime() + FREEZE_AHEAD_MS && Date.parse(w.to) >= now.getTime() + FREEZE_AHEAD_MS)
    .sort((a, b) => b.to.localeCompare(a.to))[0];
  const backupFresh = lastBackupAt !== undefined && now.getTime() - lastBackupAt.getTime() < 86_400_000;
  const labelled = spec.rooms.filter((r) => r.participantLabels.length > 0);
  return [
    { id: 'ready', ok: ready, text: ready ? t.ready.ok : t.ready.fix },
    { id: 'production', ok: spec.otree.production, text: spec.otree.production ? t.production.ok : t.production.fix },
    { id: 'authLevel', ok: spec.otree.authLevel === 'STUDY', text: spec.otree.authLevel === 'STUDY' ? t.authLevel.ok : t.authLevel.fix },
    { id: 'password', ok: passwordSet, text: passwordSet ? t.password.ok : t.password.fix },
    { id: 'processes', ok: oneWeb, text: !oneWeb ? t.processes.fix : spec.otree.version === '5' ? t.processes.ok : t.processes.ok3 },
    { id: 'backup', ok: backupFresh, text: lastBackupAt === undefined ? t.backup.none : backupFresh ? t.backup.ok(at(lastBackupAt)) : t.backup.old(at(lastBackupAt)) },
    { id: 'freeze', ok: covering !== undefined, text: covering ? t.freeze.ok(at(covering.to)) : t.freeze.fix },
    { id: 'rooms', ok: labelled.length > 0, text: labelled.length > 0 ? t.rooms.ok(labelled.length) : t.rooms.fix },
    {
      id: 'lobby', ok: lobbyAnswers === true,
      text: lobbyAnswers === true ? t.lobby.ok : lobbyAnswers === undefined && spec.rooms.length > 0 ? t.lobby.off : t.lobby.fix,
    },
  ];
}
