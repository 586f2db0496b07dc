// The instance form of the web interface (create and edit): the spec as fields people fill in, and
// back. The form only shapes what was typed; the API's operations (the schema, the row policy, the
// authorisation table) decide what is valid, and their issues are shown at the field they name.
import { SECRET_MASK } from '../manifest/index.js';
import type { OTreeInstanceSpec } from '../manifest/types.js';
import type { LabTime } from './time.js';

/** Every field of the form, as the browser sends it (strings; absent checkboxes are undefined). */
export interface InstanceForm {
  name: string;
  owner: string;
  collaborators: string;
  version: string;
  production?: string;
  authLevel: string;
  password: string;
  state: string;
  source: string;
  gitUrl: string;
  gitRef: string;
  imageRef: string;
  /** The placement fields only an admin sets: absent from a form an experimenter sends (kept as stored). */
  web?: string;
  worker?: string;
  memory?: string;
  cpu?: string;
  domains?: string;
  host?: string;
  env: string;
  redis?: string;
  letsencrypt?: string;
  deletionPolicy: string;
  expiresOn: string;
  labels: string;
}

export interface FieldProblem {
  field: keyof InstanceForm;
  message: string;
}

const lines = (text: string): string[] => text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
const words = (text: string): string[] => text.split(/[\s,]+/).filter((w) => w !== '');

/** KEY=VALUE lines (env, labels); a line without `=` is a problem of `field`. */
function pairs(text: string, field: keyof InstanceForm, problems: FieldProblem[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of lines(text)) {
    const eq = line.indexOf('=');
    if (eq <= 0) {
      problems.push({ field, message: `"${line}" is not KEY=VALUE` });
      continue;
    }
    result[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return result;
}

/** The form of an existing instance (env values masked, as every read shows them). */
export function formOfSpec(name: string, spec: OTreeInstanceSpec, labels: Record<string, string>, time: LabTime): InstanceForm {
  const source = Object.keys(spec.source)[0] ?? 'push';
  return {
    name, owner: spec.owner, collaborators: spec.collaborators.join(', '), version: spec.otree.version,
    ...(spec.otree.production ? { production: 'on' } : {}), authLevel: spec.otree.authLevel, password: '', state: spec.state,
    source, gitUrl: 'git' in spec.source ? spec.source.git.url : '', gitRef: 'git' in spec.source ? spec.source.git.ref : '',
    imageRef: 'image' in spec.source ? spec.source.image.ref : '',
    web: String(spec.processes.web), worker: String(spec.processes.worker), memory: spec.resources.memory ?? '', cpu: spec.resources.cpu ?? '',
    domains: spec.domains.join('\n'), host: spec.host ?? '',
    env: Object.keys(spec.env).map((key) => `${key}=${SECRET_MASK}`).join('\n'),
    ...(spec.redis ? { redis: 'on' } : {}), ...(spec.tls.letsencrypt ? { letsencrypt: 'on' } : {}),
    deletionPolicy: spec.database.deletionPolicy,
    expiresOn: spec.expiresAt ? time.today(new Date(spec.expiresAt)) : '',
    labels: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join('\n'),
  };
}

/** The empty form of a new instance, for `owner`. */
export function newForm(owner: string): InstanceForm {
  return {
    name: '', owner, collaborators: '', version: '5', production: 'on', authLevel: 'STUDY', password: '', state: 'running', source: 'push',
    gitUrl: '', gitRef: 'main', imageRef: '', web: '1', worker: '0', memory: '', cpu: '', domains: '', host: '', env: '',
    deletionPolicy: 'Backup', expiresOn: '', labels: '',
  };
}

/**
 * The spec and labels the form describes, on top of `base` (the stored spec when editing, so fields the
 * form does not show are kept), with the problems only the form can see (a line that is not KEY=VALUE).
 * A new instance's admin password is sent inline (the API stores it encrypted); an empty one is generated.
 */
export function specOfForm(form: InstanceForm, base: Partial<OTreeInstanceSpec> | undefined, time: LabTime, generated: () => string): {
  spec: Record<string, unknown>; labels: Record<string, string>; problems: FieldProblem[];
} {
  const problems: FieldProblem[] = [];
  const number = (text: string, field: keyof InstanceForm): number | undefined => {
    if (text.trim() === '') return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) problems.push({ field, message: 'a whole number, 0 or more' });
    return n;
  };
  const source = form.source === 'git' ? { git: { url: form.gitUrl.trim(), ref: form.gitRef.trim() || 'main' } }
    : form.source === 'image' ? { image: { ref: form.imageRef.trim() } }
      : form.source === 'archive' && base?.source ? base.source
        : { push: {} };
  let expiresAt: string | undefined;
  if (form.expiresOn.trim() !== '') {
    const end = time.parse(form.expiresOn.trim(), '23:59');
    if (end) expiresAt = end.toISOString();
    else problems.push({ field: 'expiresOn', message: 'a date, e.g. 2027-03-31' });
  }
  const env = pairs(form.env, 'env', problems);
  const labels = pairs(form.labels, 'labels', problems);
  const placement = form.web !== undefined;
  const resources: Record<string, string> = {};
  if (form.memory?.trim()) resources.memory = form.memory.trim();
  if (form.cpu?.trim()) resources.cpu = form.cpu.trim();
  const otree: Record<string, unknown> = {
    ...(base?.otree ?? {}), version: form.version, production: form.production === 'on', authLevel: form.authLevel,
  };
  if (!base) otree.adminPassword = { value: form.password !== '' ? form.password : generated() };
  const spec: Record<string, unknown> = {
    ...(base ?? {}),
    owner: form.owner.trim(),
    collaborators: words(form.collaborators),
    state: form.state === 'stopped' ? 'stopped' : 'running',
    otree,
    source,
    ...(placement ? {
      processes: { web: number(form.web ?? '', 'web') ?? 1, worker: number(form.worker ?? '', 'worker') ?? 0 },
      resources,
      domains: lines(form.domains ?? ''),
    } : {}),
    env,
    redis: form.redis === 'on',
    tls: { letsencrypt: form.letsencrypt === 'on' },
    database: { deletionPolicy: form.deletionPolicy },
  };
  if (placement) {
    if (form.host?.trim()) spec.host = form.host.trim();
    else delete spec.host;
  }
  if (expiresAt !== undefined) spec.expiresAt = expiresAt;
  else delete spec.expiresAt;
  return { spec, labels, problems };
}

/** The form field an API issue's path (`spec.processes.web`, `metadata.name`) belongs to, if any. */
export function fieldOfPath(path: string): keyof InstanceForm | undefined {
  const rules: [RegExp, keyof InstanceForm][] = [
    [/^metadata\.name/, 'name'], [/^metadata\.labels/, 'labels'], [/^spec\.owner/, 'owner'], [/^spec\.collaborators/, 'collaborators'],
    [/^spec\.otree\.version/, 'version'], [/^spec\.otree\.authLevel/, 'authLevel'], [/^spec\.otree\.adminPassword/, 'password'],
    [/^spec\.source\.git\.url/, 'gitUrl'], [/^spec\.source\.git\.ref/, 'gitRef'], [/^spec\.source\.image/, 'imageRef'], [/^spec\.source/, 'source'],
    [/^spec\.processes\.worker/, 'worker'], [/^spec\.processes/, 'web'], [/^spec\.resources\.memory/, 'memory'], [/^spec\.resources\.cpu/, 'cpu'],
    [/^spec\.resources/, 'memory'], [/^spec\.domains/, 'domains'], [/^spec\.host/, 'host'], [/^spec\.env/, 'env'], [/^spec\.redis/, 'redis'],
    [/^spec\.database/, 'deletionPolicy'], [/^spec\.expiresAt/, 'expiresOn'], [/^spec\.state/, 'state'],
  ];
  return rules.find(([pattern]) => pattern.test(path))?.[1];
}
