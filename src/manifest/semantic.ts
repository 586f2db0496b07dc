// Checks the schema cannot express: rules about oTree, Dokku and time that relate several fields.
import { APP_NAME_PATTERN, RESERVED_APP_NAMES, isReservedEnvKey, reservedEnvKeyAdvice } from './reserved.js';
import type { FieldProblem } from './schema.js';
import { secretRefs } from './secrets.js';
import { sshKeyProblem } from './sshkeys.js';
import type { Experimenter, ManifestObject, OTreeInstance } from './types.js';

function checkInstance(instance: OTreeInstance): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { spec } = instance;
  const name = instance.metadata.name;
  if (APP_NAME_PATTERN.test(name) && RESERVED_APP_NAMES.includes(name)) {
    problems.push({ path: ['metadata', 'name'], code: 'NAME_RESERVED', message: `"${name}" is a name Dokku treats specially (reserved: ${RESERVED_APP_NAMES.join(', ')}); choose another` });
  }
  if (spec.otree.version === '5') {
    if (spec.processes.web > 1) {
      problems.push({ path: ['spec', 'processes', 'web'], code: 'OTREE5_SINGLE_WEB', message: `oTree 5 runs exactly one web process (got ${spec.processes.web})` });
    }
    if (spec.redis) {
      problems.push({ path: ['spec', 'redis'], code: 'OTREE5_REDIS_UNUSED', message: 'oTree 5 does not use Redis; set redis: false to save the service' });
    }
    if (spec.processes.worker > 0) {
      problems.push({ path: ['spec', 'processes', 'worker'], code: 'OTREE5_WORKER_UNUSED', message: `oTree 5 has no worker process (prodserver2of2 only sleeps); set worker: 0 (got ${spec.processes.worker})` });
    }
  } else if (spec.processes.worker === 0 && spec.processes.web > 0) {
    problems.push({ path: ['spec', 'processes', 'worker'], code: 'OTREE3_WORKER_MISSING', message: 'oTree 3 runs bots and page timeouts in the worker process; set worker: 1' });
  }
  for (const key of Object.keys(spec.env)) {
    if (isReservedEnvKey(key)) {
      problems.push({ path: ['spec', 'env', key], code: 'ENV_RESERVED_KEY', message: `${key} is managed by otree-manager; ${reservedEnvKeyAdvice(key)}`, atKey: true });
    }
  }
  const roomIndex = new Map<string, number>();
  spec.rooms.forEach((room, index) => {
    const first = roomIndex.get(room.name);
    if (first !== undefined) {
      problems.push({ path: ['spec', 'rooms', index, 'name'], code: 'ROOM_DUPLICATE', message: `room "${room.name}" is already declared as rooms[${first}]` });
    } else {
      roomIndex.set(room.name, index);
    }
  });
  spec.freezeWindows.forEach((window, index) => {
    if (Date.parse(window.to) <= Date.parse(window.from)) {
      problems.push({ path: ['spec', 'freezeWindows', index, 'to'], code: 'FREEZE_WINDOW_ORDER', message: `the window must end after it starts (from ${window.from}, to ${window.to})` });
    }
  });
  for (const { path, ref } of secretRefs(instance)) {
    if ('value' in ref) {
      problems.push({ path: [...path.split('.'), 'value'], code: 'SECRET_INLINE', message: 'the secret is written in the manifest; prefer fromFile or fromEnv so it stays out of git' });
    }
  }
  return problems;
}

function checkExperimenter(experimenter: Experimenter): FieldProblem[] {
  const problems: FieldProblem[] = [];
  experimenter.spec.sshKeys.forEach((key, index) => {
    const problem = sshKeyProblem(key);
    if (problem) problems.push({ path: ['spec', 'sshKeys', index], code: 'SSH_KEY_INVALID', message: problem });
  });
  return problems;
}

/** Semantic checks on one schema-valid object. */
export function checkObject(object: ManifestObject): FieldProblem[] {
  return object.kind === 'OTreeInstance' ? checkInstance(object) : checkExperimenter(object);
}
