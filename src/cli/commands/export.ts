// `otm export`: writes manifests for the apps a Dokku host already runs, so an existing setup can be
// adopted. It reads the host directly (no daemon needed) and copies what the app's configuration says;
// the admin password is never copied: the manifest names an environment variable to put it in.
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { Document } from 'yaml';
import { loadConfig } from '../../config.js';
// Heavy modules (the daemon, fastify, pg, dockerode) load inside the action, so other commands start fast.
import { API_VERSION, APP_NAME_PATTERN, OWNERSHIP_MARKER, RESERVED_APP_NAMES, isReservedEnvKey, serviceNames } from '../../manifest/index.js';
import type { OTreeInstance, Source } from '../../manifest/index.js';
import type { ObservedApp } from '../../observed/types.js';
import { count } from '../output.js';

interface ExportOptions {
  config?: string;
  host?: string;
  outputDir?: string;
  all?: boolean;
  owner: string;
}

/** Keys Dokku itself keeps in an app's config, besides its DOKKU_ prefix. */
const DOKKU_KEYS = new Set(['GIT_REV', 'NO_VHOST', 'SOURCE_VERSION']);
const DOMAIN_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MEMORY_PATTERN = /^[0-9]+[bkmg]?$/;
const CPU_PATTERN = /^[0-9]+(\.[0-9]+)?$/;

/** The environment variable an exported manifest reads the admin password from. */
export function passwordVariable(app: string): string {
  return `${app.toUpperCase().replaceAll('-', '_')}_ADMIN_PASSWORD`;
}

function sourceOf(app: ObservedApp): Source {
  if (app.deploySource === 'docker-image' && app.deploySourceMetadata !== '') return { image: { ref: app.deploySourceMetadata } };
  if (app.deploySource === 'git-sync' && app.deploySourceMetadata !== '') {
    const at = app.deploySourceMetadata.lastIndexOf('#');
    return at > 0
      ? { git: { url: app.deploySourceMetadata.slice(0, at), ref: app.deploySourceMetadata.slice(at + 1) } }
      : { git: { url: app.deploySourceMetadata, ref: 'main' } };
  }
  return { push: {} };
}

/** The manifest that adopts `app` as it runs now, and the remarks a reader must act on. */
export function manifestFor(app: ObservedApp, host: string, owner: string): { manifest: OTreeInstance; remarks: string[] } {
  const remarks: string[] = [];
  const web = app.scale.web ?? 0;
  let worker = app.scale.worker ?? 0;
  const redis = app.links.redis.length > 0;
  // oTree 5 runs one web process and neither a worker nor Redis; anything else is an oTree 3 project.
  const version = worker > 0 || redis || web > 1 ? '3' : '5';
  if (version === '3' && worker === 0 && web > 0) {
    worker = 1;
    remarks.push('oTree 3 needs a worker process and the app runs none: worker is set to 1, which starts one');
  }
  const env: Record<string, string> = {};
  const skipped: string[] = [];
  for (const [key, value] of Object.entries(app.config).sort(([a], [b]) => a.localeCompare(b))) {
    if (isReservedEnvKey(key) || DOKKU_KEYS.has(key)) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || value === '') skipped.push(key);
    else env[key] = value;
  }
  if (skipped.length > 0) remarks.push(`config keys left out (not a variable name, or empty): ${skipped.join(', ')}`);
  const domains = app.domains.filter((domain) => DOMAIN_PATTERN.test(domain));
  const odd = app.domains.filter((domain) => !DOMAIN_PATTERN.test(domain));
  if (odd.length > 0) remarks.push(`domains left out (not lowercase domain names): ${odd.join(', ')}`);
  const resources: OTreeInstance['spec']['resources'] = {};
  if (app.resources.memory && MEMORY_PATTERN.test(app.resources.memory)) resources.memory = app.resources.memory;
  if (app.resources.cpu && CPU_PATTERN.test(app.resources.cpu)) resources.cpu = app.resources.cpu;
  const managedDb = serviceNames(app.name).postgres;
  const otherDbs = app.links.postgres.filter((name) => name !== managedDb);
  if (otherDbs.length > 0) remarks.push(`linked PostgreSQL service ${otherDbs.join(', ')} is not the one the daemon manages (${managedDb}): the daemon links ${managedDb}; move the data first`);
  if (!app.deployed) remarks.push('nothing is deployed yet');

  const manifest: OTreeInstance = {
    apiVersion: API_VERSION,
    kind: 'OTreeInstance',
    metadata: { name: app.name, labels: {} },
    spec: {
      owner,
      collaborators: [],
      state: app.stoppedByUser ? 'stopped' : 'running',
      otree: {
        version,
        production: ['1', 'true', 'True'].includes(app.config.OTREE_PRODUCTION ?? ''),
        authLevel: (['STUDY', 'DEMO'] as const).find((level) => level === app.config.OTREE_AUTH_LEVEL) ?? 'OFF',
        adminPassword: { fromEnv: passwordVariable(app.name) },
      },
      source: sourceOf(app),
      processes: { web, worker },
      // Adopting must never put existing data at risk: the database stays when the instance goes.
      database: { deletionPolicy: 'Retain' },
      redis,
      domains,
      tls: { letsencrypt: app.letsencrypt.active },
      env,
      rooms: [],
      lobby: { enabled: true },
      resetDatabase: { generation: 0 },
      restart: { generation: 0 },
      freezeWindows: [],
      resources,
      host,
      adopt: true,
    },
  };
  return { manifest, remarks };
}

/** The manifest as YAML, with a header saying where it came from and what to do before applying it. */
export function exportYaml(manifest: OTreeInstance, host: string, remarks: string[]): string {
  const document = new Document(manifest);
  document.commentBefore = [
    ` Exported by \`otm export\` from the app ${manifest.metadata.name} on the Dokku host ${host}; spec.adopt lets the daemon take it over.`,
    ' Before applying:',
    ` - the admin password is not copied: give the daemon the environment variable ${passwordVariable(manifest.metadata.name)}`,
    '   (or use adminPassword: { fromFile: ... })',
    ' - set spec.owner to the experimenter who owns this app',
    ...remarks.map((remark) => ` - ${remark}`),
  ].join('\n');
  return document.toString({ lineWidth: 0 });
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write manifests that adopt the apps a Dokku host already runs (reads the host directly)')
    .option('--host <name>', 'the configured host to read (default: the first)')
    .option('-o, --output-dir <dir>', 'write one <app>.yaml per app here (default: print them to stdout)')
    .option('--all', `also export apps that already carry ${OWNERSHIP_MARKER} (managed by a daemon)`)
    .option('--owner <name>', 'spec.owner of every exported instance', 'unassigned')
    .action(async (_options: ExportOptions, command: Command) => {
      const options = command.optsWithGlobals<ExportOptions>();
      const { config } = await loadConfig(options.config !== undefined ? { path: options.config } : {});
      const { createDrivers } = await import('../../engine/daemon.js');
      const drivers = createDrivers(config, undefined);
      const driver = options.host === undefined ? drivers[0] : drivers.find((d) => d.host === options.host);
      if (!driver) throw new Error(`no host named ${options.host ?? ''} in the configuration (configured: ${config.hosts.map((h) => h.name).join(', ')}); pass one of them with --host`);
      let observed;
      try {
        observed = await driver.observe();
      } catch (error) {
        throw new Error(`cannot read the Dokku host ${driver.host}: ${(error as Error).message}`);
      } finally {
        await Promise.all(drivers.map((d) => d.close()));
      }

      const apps = [...observed.apps.values()].sort((a, b) => a.name.localeCompare(b.name));
      const managed = apps.filter((app) => OWNERSHIP_MARKER in app.config);
      const unfit = apps.filter((app) => !APP_NAME_PATTERN.test(app.name) || RESERVED_APP_NAMES.includes(app.name));
      const chosen = apps.filter((app) => !unfit.includes(app) && (options.all || !managed.includes(app)));
      const documents = chosen.map((app) => {
        const { manifest, remarks } = manifestFor(app, driver.host, options.owner);
        return { name: app.name, text: exportYaml(manifest, driver.host, remarks) };
      });

      if (options.outputDir !== undefined) {
        const dir = options.outputDir;
        const taken = [];
        for (const { name } of documents) if (await exists(path.join(dir, `${name}.yaml`))) taken.push(path.join(dir, `${name}.yaml`));
        if (taken.length > 0) throw new Error(`not overwriting ${taken.join(', ')}: remove them or choose another --output-dir`);
        await mkdir(dir, { recursive: true });
        for (const { name, text } of documents) await writeFile(path.join(dir, `${name}.yaml`), text);
      } else {
        process.stdout.write(documents.map(({ text }) => text).join('---\n'));
      }

      const notes = [
        ...(!options.all && managed.length > 0 ? [`${count(managed.length, 'managed app')} left out (--all includes them)`] : []),
        ...(unfit.length > 0 ? [`left out because manifests cannot name them: ${unfit.map((app) => app.name).join(', ')}`] : []),
      ];
      const where = options.outputDir !== undefined ? ` to ${options.outputDir}` : '';
      process.stderr.write(`exported ${count(documents.length, 'app')} from ${driver.host}${where}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}\n`);
      if (documents.length > 0) process.stderr.write('check the comments at the top of each manifest, then `otm validate` them before adding them to the manifests\n');
    });
}
