// `otm get instances|experimenters [NAME] [-o wide|yaml|json]`: what the daemon holds, as an aligned
// table (colours on a terminal only), as re-appliable YAML manifests, or as the API's JSON.
import type { Command } from 'commander';
import { Argument, Option } from 'commander';
import { API_VERSION } from '../../manifest/index.js';
import type { Experimenter, ManifestObject, OTreeInstance } from '../../manifest/index.js';
import { clientFor, withApiOptions } from '../client.js';
import type { ApiOptions, ExperimenterItem, InstanceItem, ObjectDetail } from '../client.js';
import { age, objectsAsYaml, painter, stateColour, table } from '../output.js';

type Format = 'table' | 'wide' | 'yaml' | 'json';

interface GetOptions extends ApiOptions {
  output: Format;
}

/** What each resource word on the command line stands for. */
export const RESOURCES: Record<string, 'OTreeInstance' | 'Experimenter'> = {
  instances: 'OTreeInstance', instance: 'OTreeInstance', inst: 'OTreeInstance',
  experimenters: 'Experimenter', experimenter: 'Experimenter', exp: 'Experimenter',
};

/** A list item from the single object the API returns for one name. */
export function itemOf(detail: ObjectDetail): InstanceItem {
  return {
    name: detail.name,
    source: detail.source,
    generation: detail.generation,
    spec: detail.object ? detail.object.spec as unknown as Record<string, unknown> : null,
    labels: detail.object?.metadata.labels ?? {},
    status: detail.status ?? null,
  };
}

/** The manifest a list item stands for (annotations are not part of list items); none for orphans. */
function manifestOf(kind: 'OTreeInstance' | 'Experimenter', item: ExperimenterItem): ManifestObject[] {
  if (item.spec === null) return [];
  const base = { apiVersion: API_VERSION, metadata: { name: item.name, labels: item.labels } } as const;
  return [kind === 'OTreeInstance'
    ? { ...base, kind, spec: item.spec as unknown as OTreeInstance['spec'] }
    : { ...base, kind, spec: item.spec as unknown as Experimenter['spec'] }];
}

function instanceRows(items: InstanceItem[], wide: boolean, now: Date): { headers: string[]; rows: string[][] } {
  const headers = wide
    ? ['NAME', 'PHASE', 'READY', 'UPDATED', 'HOST', 'GENERATION', 'SOURCE', 'DEFERRED', 'URLS']
    : ['NAME', 'PHASE', 'READY', 'UPDATED', 'URL'];
  const rows = items.map((item) => {
    const status = item.status;
    const ready = status?.conditions.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
    const phase = status?.phase ?? 'Unknown';
    const updated = status ? age(status.updatedAt, now) : '<never>';
    if (!wide) return [item.name, phase, ready, updated, status?.urls[0] ?? '<none>'];
    const host = status?.host ?? (item.spec?.host as string | undefined) ?? '<default>';
    const generation = `${item.generation ?? '-'}/${status ? status.observedGeneration : '-'}`;
    const deferred = status && status.deferred.length > 0 ? `${status.deferred.length} until ${status.deferred[0]!.until}` : '<none>';
    const urls = status && status.urls.length > 0 ? status.urls.join(',') : '<none>';
    return [item.name, phase, ready, updated, host, generation, item.source ?? '<orphaned>', deferred, urls];
  });
  return { headers, rows };
}

function experimenterRows(items: ExperimenterItem[], instances: InstanceItem[], wide: boolean): { headers: string[]; rows: string[][] } {
  const headers = wide
    ? ['NAME', 'ROLE', 'DISPLAY NAME', 'SSH KEYS', 'INSTANCES', 'EMAIL', 'QUOTA', 'GENERATION', 'SOURCE']
    : ['NAME', 'ROLE', 'DISPLAY NAME', 'SSH KEYS', 'INSTANCES'];
  const rows = items.filter((item) => item.spec !== null).map((item) => {
    const spec = item.spec as unknown as Experimenter['spec'];
    const owned = instances.filter((instance) => instance.spec?.owner === item.name).length;
    const row = [item.name, spec.role, spec.displayName, String(spec.sshKeys.length), `${owned}/${spec.quota.instances}`];
    if (!wide) return row;
    return [...row, spec.email ?? '<none>', `${spec.quota.instances} instances, ${spec.quota.webProcesses} web`, String(item.generation ?? '-'), item.source ?? '<none>'];
  });
  return { headers, rows };
}

export function registerGet(program: Command): void {
  withApiOptions(program
    .command('get')
    .description('list instances or experimenters the daemon holds, or show one')
    .addArgument(new Argument('<resource>', 'what to list').choices(Object.keys(RESOURCES)))
    .argument('[name]', 'only this one')
    .addOption(new Option('-o, --output <format>', 'table, wide (more columns), yaml (manifests, secrets masked) or json (the API\'s answer, with status)')
      .choices(['table', 'wide', 'yaml', 'json']).default('table')))
    .action(async (resource: string, name: string | undefined, _options: GetOptions, command: Command) => {
      const options = command.optsWithGlobals<GetOptions>();
      const kind = RESOURCES[resource]!;
      const client = await clientFor(options);
      const noun = kind === 'OTreeInstance' ? 'instances' : 'experimenters';

      let items: InstanceItem[];
      let single: ObjectDetail | undefined;
      if (name !== undefined) {
        single = await client.require(kind, name);
        items = [itemOf(single)];
      } else {
        items = kind === 'OTreeInstance'
          ? (await client.listInstances()).items
          : (await client.listExperimenters()).items.map((item) => ({ ...item, status: null }));
      }

      if (options.output === 'json') {
        process.stdout.write(`${JSON.stringify(single ?? { items: kind === 'OTreeInstance' ? items : items.map(({ status: _status, ...rest }) => rest) }, null, 2)}\n`);
        return;
      }
      if (options.output === 'yaml') {
        const objects = items.flatMap((item) => manifestOf(kind, item));
        if (objects.length > 0) process.stdout.write(objectsAsYaml(single?.object ? [single.object] : objects));
        return;
      }
      if (items.length === 0) {
        process.stderr.write(`No ${noun} found at ${client.baseUrl}.\n`);
        return;
      }
      const wide = options.output === 'wide';
      const sorted = [...items].sort((a, b) => a.name.localeCompare(b.name));
      const { headers, rows } = kind === 'OTreeInstance'
        ? instanceRows(sorted, wide, new Date())
        : experimenterRows(sorted, (await client.listInstances()).items, wide);
      const colourColumns = kind === 'OTreeInstance' ? [1, 2] : [];
      const paint = painter(process.stdout);
      process.stdout.write(`${table(headers, rows, paint, (row, column) => (colourColumns.includes(column) ? stateColour(row[column] ?? '') : undefined))}\n`);
    });
}
