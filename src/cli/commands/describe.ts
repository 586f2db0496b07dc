// `otm describe instance|experimenter NAME`: one object in kubectl's describe layout: its spec in a
// few lines (secrets masked, env values left out), its status, conditions, deferred work and events.
import type { Command } from 'commander';
import { Argument } from 'commander';
import { maskSecrets } from '../../manifest/index.js';
import type { Experimenter, OTreeInstance, SecretRef, Source } from '../../manifest/index.js';
import { clientFor, withApiOptions } from '../client.js';
import type { InstanceStatus } from '../../engine/status.js';
import type { ApiOptions, InstanceItem, ObjectDetail } from '../client.js';
import { age, painter, stateColour, table } from '../output.js';
import type { Painter } from '../output.js';
import { RESOURCES } from './get.js';

/** `Label:` padded so that values line up, as kubectl does. */
function field(label: string, value: string, indent = ''): string {
  return `${indent}${`${label}:`.padEnd(18 - indent.length)}${value}`;
}

function secretText(ref: SecretRef): string {
  if ('fromFile' in ref) return `from file ${ref.fromFile}`;
  if ('fromEnv' in ref) return `from environment variable ${ref.fromEnv}`;
  if ('secretRef' in ref) return `stored secret ${ref.secretRef} (encrypted in the database)`;
  return `inline ${ref.value}`;
}

function sourceText(source: Source): string {
  if ('git' in source) return `git ${source.git.url} (${source.git.ref})`;
  if ('image' in source) return `image ${source.image.ref}`;
  if ('archive' in source) return `archive ${source.archive.path}`;
  return 'push (git push dokku@<host>:<name>)';
}

function labelsText(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
  return pairs.length > 0 ? pairs.join(', ') : '<none>';
}

/** Indents a table (or any block) under a section heading. */
function indented(block: string): string {
  return block.split('\n').map((line) => `  ${line}`).join('\n');
}

function specLines(object: OTreeInstance, status: InstanceStatus | null): string[] {
  const { spec } = maskSecrets(object);
  return [
    'Spec:',
    field('State', spec.state, '  '),
    field('oTree', `${spec.otree.version}, ${spec.otree.production ? 'production' : 'debug'}, auth ${spec.otree.authLevel}`, '  '),
    field('Admin password', secretText(spec.otree.adminPassword), '  '),
    ...(spec.otree.restKey ? [field('REST key', secretText(spec.otree.restKey), '  ')] : []),
    field('Source', sourceText(spec.source), '  '),
    field('Processes', `web=${spec.processes.web} worker=${spec.processes.worker}`, '  '),
    field('Database', `deletion policy ${spec.database.deletionPolicy}`, '  '),
    field('Redis', spec.redis ? 'yes' : 'no', '  '),
    field('Domains', spec.domains.length > 0 ? spec.domains.join(', ') : '<default>', '  '),
    field('TLS', spec.tls.letsencrypt ? 'letsencrypt' : 'none', '  '),
    // Env values can be credentials of the app's own services: only the names are shown.
    field('Env', Object.keys(spec.env).length > 0 ? Object.keys(spec.env).sort().join(', ') : '<none>', '  '),
    field('Rooms', spec.rooms.length > 0 ? spec.rooms.map((room) => `${room.name} (${room.participantLabels.length} labels)`).join(', ') : '<none>', '  '),
    field('Freeze windows', spec.freezeWindows.length > 0 ? spec.freezeWindows.map((w) => `${w.from} to ${w.to}`).join(', ') : '<none>', '  '),
    field('Reset database', `generation ${spec.resetDatabase.generation}${status ? ` (done ${status.done.resetDatabase})` : ''}`, '  '),
    field('Restart', `generation ${spec.restart.generation}${status ? ` (done ${status.done.restart})` : ''}`, '  '),
    ...(spec.expiresAt ? [field('Expires', spec.expiresAt, '  ')] : []),
    ...(spec.backups ? [field('Backups', `${spec.backups.schedule}, keep ${spec.backups.keep}`, '  ')] : []),
    ...(spec.resources.memory || spec.resources.cpu
      ? [field('Resources', [spec.resources.memory && `memory ${spec.resources.memory}`, spec.resources.cpu && `cpu ${spec.resources.cpu}`].filter(Boolean).join(', '), '  ')]
      : []),
    ...(spec.adopt ? [field('Adopt', 'yes', '  ')] : []),
  ];
}

export function describeInstance(detail: ObjectDetail, now: Date, paint: Painter): string {
  const object = detail.object as OTreeInstance | null;
  const status = detail.status ?? null;
  const lines: string[] = [
    field('Name', detail.name),
    field('Declared in', detail.source ?? 'nowhere: the daemon keeps its status, but no manifest or row declares it (orphaned)'),
    ...(object ? [field('Labels', labelsText(object.metadata.labels)), field('Owner', object.spec.owner)] : []),
    field('Host', status?.host ?? object?.spec.host ?? '<default>'),
    field('Phase', status ? paint(stateColour(status.phase) ?? 'bold', status.phase) : 'not reconciled yet'),
    field('Generation', `${detail.generation ?? '-'}${status ? ` (observed ${status.observedGeneration})` : ''}`),
    ...(object ? specLines(object, status) : []),
  ];
  const issues = detail.issues ?? [];
  if (issues.length > 0) {
    lines.push('Issues:', ...issues.map((issue) => `  ${paint(issue.severity === 'warning' ? 'yellow' : 'red', `${issue.path || '(document)'}: ${issue.message}`)}`));
  }
  if (!status) {
    lines.push('Status:           the daemon has not reconciled this instance yet');
  } else {
    lines.push(status.urls.length > 0 ? 'URLs:' : 'URLs:             <none>', ...status.urls.map((url) => `  ${url}`));
    lines.push('Conditions:');
    lines.push(indented(table(['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
      status.conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime, now), c.message]), paint,
      (row, column) => (column === 1 ? stateColour(row[column] ?? '') : undefined))));
    if (status.deferred.length === 0) lines.push('Deferred:         <none>');
    else lines.push('Deferred:', indented(table(['UNTIL', 'ACTION', 'REASON'], status.deferred.map((d) => [d.until, d.action, d.reason]), paint)));
    lines.push(status.lastError
      ? field('Last error', `${paint('red', status.lastError.message)} (${status.lastError.code}, ${age(status.lastError.at, now)} ago)`)
      : field('Last error', '<none>'));
    if (status.notes && status.notes.length > 0) lines.push('Notes:', ...status.notes.map((note) => `  ${note}`));
    lines.push(field('Last synced', status.lastSyncedAt ? `${status.lastSyncedAt} (${age(status.lastSyncedAt, now)} ago)` : '<never>'));
  }
  const events = detail.events ?? [];
  if (events.length === 0) lines.push('Events:           <none>');
  else {
    lines.push('Events:', indented(table(['TYPE', 'REASON', 'AGE', 'MESSAGE'], events.map((e) => [e.type, e.reason, age(e.at, now), e.message]), paint,
      (row, column) => (column === 0 && row[0] === 'Warning' ? 'yellow' : undefined))));
  }
  return `${lines.join('\n')}\n`;
}

export function describeExperimenter(detail: ObjectDetail, instances: InstanceItem[]): string {
  const object = detail.object as Experimenter;
  const { spec } = object;
  const owned = instances.filter((instance) => instance.spec?.owner === object.metadata.name).map((instance) => instance.name).sort();
  const lines = [
    field('Name', object.metadata.name),
    field('Declared in', detail.source ?? '<unknown>'),
    field('Labels', labelsText(object.metadata.labels)),
    field('Display name', spec.displayName),
    field('Email', spec.email ?? '<none>'),
    field('Role', spec.role),
    field('Quota', `${spec.quota.instances} instances, ${spec.quota.webProcesses} web processes`),
    field('Instances', owned.length > 0 ? owned.join(', ') : '<none>'),
    // The key type and comment identify a key; the key material itself is long and says nothing.
    spec.sshKeys.length > 0 ? 'SSH keys:' : 'SSH keys:         <none>',
    ...spec.sshKeys.map((key) => {
      const [type, , ...comment] = key.split(/\s+/);
      return `  ${type ?? ''} ${comment.join(' ') || '(no comment)'}`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

export function registerDescribe(program: Command): void {
  withApiOptions(program
    .command('describe')
    .description('show one instance (spec, status, conditions, deferred work, events) or experimenter')
    .addArgument(new Argument('<resource>', 'what to show').choices(Object.keys(RESOURCES)))
    .argument('<name>', 'its name'))
    .action(async (resource: string, name: string, _options: ApiOptions, command: Command) => {
      const options = command.optsWithGlobals<ApiOptions>();
      const kind = RESOURCES[resource]!;
      const client = await clientFor(options);
      const detail = await client.require(kind, name);
      process.stdout.write(kind === 'OTreeInstance'
        ? describeInstance(detail, new Date(), painter(process.stdout))
        : describeExperimenter(detail, (await client.listInstances()).items));
    });
}
