// Checks the schema cannot express: rules about oTree, Dokku and time that relate several fields.
// Each rule declares the fields it reads, so that it also runs on an object with schema errors
// elsewhere: the user sees every problem at once, and no rule ever reads a malformed field.
import { APP_NAME_PATTERN, RESERVED_APP_NAMES, isReservedEnvKey, reservedEnvKeyAdvice } from './reserved.js';
import type { FieldProblem } from './schema.js';
import { secretRefs } from './secrets.js';
import { sshKeyProblem } from './sshkeys.js';
import type { Experimenter, ManifestObject, OTreeInstance } from './types.js';

interface Rule<T extends ManifestObject> {
  /** The fields the rule reads; it is skipped when the schema found a problem in or above one of them. */
  reads: (string | number)[][];
  check: (object: T) => FieldProblem[];
}

const instanceRules: Rule<OTreeInstance>[] = [
  {
    reads: [['metadata', 'name']],
    check: ({ metadata: { name } }) => APP_NAME_PATTERN.test(name) && RESERVED_APP_NAMES.includes(name)
      ? [{ path: ['metadata', 'name'], code: 'NAME_RESERVED', message: `"${name}" is a name Dokku treats specially (reserved: ${RESERVED_APP_NAMES.join(', ')}); choose another` }]
      : [],
  },
  {
    reads: [['spec', 'otree', 'version'], ['spec', 'processes'], ['spec', 'redis']],
    check: ({ spec }) => {
      const problems: FieldProblem[] = [];
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
      return problems;
    },
  },
  {
    reads: [['spec', 'env']],
    check: ({ spec }) => Object.keys(spec.env).filter(isReservedEnvKey).map((key) => (
      { path: ['spec', 'env', key], code: 'ENV_RESERVED_KEY', message: `${key} is managed by otree-manager; ${reservedEnvKeyAdvice(key)}`, atKey: true }
    )),
  },
  {
    reads: [['spec', 'rooms']],
    check: ({ spec }) => spec.rooms.flatMap((room, index): FieldProblem[] => {
      const first = spec.rooms.findIndex((other) => other.name === room.name);
      return first < index ? [{ path: ['spec', 'rooms', index, 'name'], code: 'ROOM_DUPLICATE', message: `room "${room.name}" is already declared as rooms[${first}]` }] : [];
    }),
  },
  {
    reads: [['spec', 'freezeWindows']],
    check: ({ spec }) => spec.freezeWindows.flatMap((window, index): FieldProblem[] => Date.parse(window.to) <= Date.parse(window.from)
      ? [{ path: ['spec', 'freezeWindows', index, 'to'], code: 'FREEZE_WINDOW_ORDER', message: `the window must end after it starts (from ${window.from}, to ${window.to})` }]
      : []),
  },
  {
    reads: [['spec', 'otree', 'adminPassword'], ['spec', 'otree', 'restKey']],
    check: (instance) => secretRefs(instance).filter(({ ref }) => 'value' in ref).map(({ path }) => (
      { path: [...path.split('.'), 'value'], code: 'SECRET_INLINE', message: 'the secret is written in the manifest; prefer fromFile or fromEnv so it stays out of git' }
    )),
  },
];

const experimenterRules: Rule<Experimenter>[] = [
  {
    reads: [['spec', 'sshKeys']],
    check: ({ spec }) => spec.sshKeys.flatMap((key, index): FieldProblem[] => {
      const problem = sshKeyProblem(key);
      return problem ? [{ path: ['spec', 'sshKeys', index], code: 'SSH_KEY_INVALID', message: problem }] : [];
    }),
  },
];

/** True when one path is the other or lies inside it. */
function overlaps(a: (string | number)[], b: (string | number)[]): boolean {
  const shorter = Math.min(a.length, b.length);
  return a.slice(0, shorter).every((segment, index) => segment === b[index]);
}

function applyRules<T extends ManifestObject>(rules: Rule<T>[], object: T, schemaProblems: readonly FieldProblem[]): FieldProblem[] {
  return rules
    .filter((rule) => !rule.reads.some((read) => schemaProblems.some((problem) => overlaps(read, problem.path))))
    .flatMap((rule) => rule.check(object));
}

/**
 * Semantic checks on one object whose kind is known. `schemaProblems` are the schema's findings on the
 * same object: rules that read a field with a problem are skipped.
 */
export function checkObject(object: ManifestObject, schemaProblems: readonly FieldProblem[] = []): FieldProblem[] {
  return object.kind === 'OTreeInstance'
    ? applyRules(instanceRules, object, schemaProblems)
    : applyRules(experimenterRules, object, schemaProblems);
}
