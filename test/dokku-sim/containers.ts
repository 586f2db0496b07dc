// The Docker side: one real container per process instance, named and labelled the way Dokku's
// docker-local scheduler does, plus a label naming the simulator root so parallel roots never touch
// each other's containers. dockerode is imported only when a command needs containers.
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import type { Ctx } from './context.js';
import type { AppState, ContainerRecord } from './state.js';
import { STANDIN_PROCFILE, WEB_PORT, hostNetworkWebCommand } from './standin.js';
import { createServer } from 'node:net';

export const ROOT_LABEL = 'com.dokku.sim-root';

let engine: Promise<Docker | undefined> | undefined;

/** The Docker Engine to use, or undefined when containers are off (DOKKU_SIM_DOCKER=0, or auto and none answers). */
export function dockerFor(ctx: Ctx): Promise<Docker | undefined> {
  engine ??= (async () => {
    const mode = ctx.settings.docker;
    if (mode === '0') return undefined;
    const socket = (ctx.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
    if (mode === 'auto' && !ctx.env.DOCKER_HOST && !existsSync(socket)) return undefined;
    const { default: DockerClient } = await import('dockerode');
    const docker = new DockerClient();
    try {
      await docker.ping();
      return docker;
    } catch (err) {
      if (mode === 'auto') return undefined;
      throw new Error(`DOKKU_SIM_DOCKER=1 but no Docker Engine answers: ${(err as Error).message}`);
    }
  })();
  return engine;
}

/** A port nothing listens on at the moment, on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

function fakeId(): string {
  return randomBytes(32).toString('hex');
}

function labels(ctx: Ctx, app: string, type: string, dyno: string, containerType: string): Record<string, string> {
  return {
    dokku: '',
    'com.dokku.app-name': app,
    'com.dokku.process-type': type,
    'com.dokku.container-type': containerType,
    'com.dokku.dyno': dyno,
    [ROOT_LABEL]: ctx.settings.rootId,
  };
}

export function containerEnv(app: AppState, dyno: string): string[] {
  return [...Object.entries(app.config).map(([k, v]) => `${k}=${v}`), `DYNO=${dyno}`, `PORT=${WEB_PORT}`];
}

async function removeByName(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getContainer(name).remove({ force: true });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
}

/** Whether a local image exists (Dokku would try to pull it; there is no registry here). */
export async function imageExists(ctx: Ctx, image: string): Promise<boolean> {
  const docker = await dockerFor(ctx);
  if (!docker) return true;
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}

/**
 * Make the app's containers match its scale: (re)create every instance of the process types in
 * `only` (all types when undefined) and any missing instance, remove instances above the count.
 */
export async function applyContainers(ctx: Ctx, appName: string, app: AppState, scale: Record<string, number>, only?: string[]): Promise<Record<string, ContainerRecord>> {
  const docker = await dockerFor(ctx);
  const result: Record<string, ContainerRecord> = {};
  const types = new Set([...Object.keys(scale), ...Object.keys(app.containers).map((d) => d.split('.')[0]!)]);
  for (const type of [...types].sort()) {
    const want = scale[type] ?? 0;
    const existing = Object.keys(app.containers).filter((d) => d.split('.')[0] === type).length;
    for (let i = 1; i <= Math.max(want, existing); i++) {
      const dyno = `${type}.${i}`;
      const name = `${ctx.settings.containerPrefix}${appName}.${dyno}`;
      const old = app.containers[dyno];
      if (i > want) {
        if (docker) await removeByName(docker, name);
        continue;
      }
      if (old && old.state === 'running' && only && !only.includes(type)) {
        result[dyno] = old;
        continue;
      }
      if (!docker) {
        result[dyno] = { id: fakeId(), state: 'running' };
        continue;
      }
      await removeByName(docker, name);
      const web = type === 'web';
      // Without a usable bridge the containers share the host network: web then listens on its own
      // loopback port (kept across restarts); with a bridge, Dokku's port 5000 is published on 127.0.0.1.
      const hostNetwork = ctx.settings.network === 'host';
      const port = web && hostNetwork ? old?.hostPort ?? (await freePort()) : undefined;
      const container = await docker.createContainer({
        name,
        Image: app.image,
        Cmd: port !== undefined ? hostNetworkWebCommand(port) : STANDIN_PROCFILE[type] ?? STANDIN_PROCFILE.worker,
        Env: containerEnv(app, dyno),
        Labels: labels(ctx, appName, type, dyno, 'deploy'),
        ...(web && !hostNetwork ? { ExposedPorts: { [`${WEB_PORT}/tcp`]: {} } } : {}),
        HostConfig: {
          RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 10 },
          NetworkMode: hostNetwork ? 'host' : 'bridge',
          ...(web && !hostNetwork ? { PortBindings: { [`${WEB_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] } } : {}),
        },
      });
      try {
        await container.start();
      } catch (err) {
        await container.remove({ force: true }).catch(() => undefined);
        throw err;
      }
      const info = await container.inspect();
      const binding = info.NetworkSettings.Ports?.[`${WEB_PORT}/tcp`]?.[0];
      const hostPort = port ?? (binding ? Number(binding.HostPort) : undefined);
      result[dyno] = { id: info.Id, state: 'running', ...(hostPort !== undefined ? { hostPort } : {}) };
    }
  }
  return result;
}

/** ps:stop: containers are stopped (kept, like Dokku's scheduler does). */
export async function stopContainers(ctx: Ctx, app: AppState): Promise<Record<string, ContainerRecord>> {
  const docker = await dockerFor(ctx);
  const result: Record<string, ContainerRecord> = {};
  for (const [dyno, record] of Object.entries(app.containers)) {
    if (docker) {
      try {
        // The stand-in processes run as PID 1 and ignore SIGTERM: kill rather than wait out a stop timeout.
        await docker.getContainer(record.id).kill();
      } catch (err) {
        const code = (err as { statusCode?: number }).statusCode;
        if (code !== 404 && code !== 409) throw err;
      }
    }
    result[dyno] = { ...record, state: 'exited' };
  }
  return result;
}

/** apps:destroy: every container of the app in this root, whatever its state. */
export async function removeAppContainers(ctx: Ctx, appName: string): Promise<void> {
  const docker = await dockerFor(ctx);
  if (!docker) return;
  const found = await docker.listContainers({
    all: true,
    filters: { label: [`${ROOT_LABEL}=${ctx.settings.rootId}`, `com.dokku.app-name=${appName}`] },
  });
  for (const c of found) await removeByName(docker, c.Id);
}

/** Docker's State.Status of each container (`missing` when gone); without Docker, the recorded state. */
export async function containerStatuses(ctx: Ctx, app: AppState): Promise<Record<string, string>> {
  const docker = await dockerFor(ctx);
  const result: Record<string, string> = {};
  for (const [dyno, record] of Object.entries(app.containers)) {
    if (!docker) {
      result[dyno] = record.state;
      continue;
    }
    try {
      result[dyno] = (await docker.getContainer(record.id).inspect()).State.Status;
    } catch {
      result[dyno] = 'missing';
    }
  }
  return result;
}

/** dokku run: a one-off container from the deployed image; resolves to the command's exit status. */
export async function runOneOff(ctx: Ctx, appName: string, app: AppState, cmd: string[], extraEnv: string[]): Promise<number | undefined> {
  const docker = await dockerFor(ctx);
  if (!docker) return undefined;
  const suffix = randomBytes(2).readUInt16BE() % 32768;
  const dyno = `run.${suffix}`;
  const container = await docker.createContainer({
    name: `${ctx.settings.containerPrefix}${appName}.run.${suffix}`,
    Image: app.image,
    Cmd: cmd,
    Env: [...containerEnv(app, dyno), ...extraEnv],
    Labels: { ...labels(ctx, appName, 'run', dyno, 'run'), 'com.dokku.container-ttl-seconds': '86400' },
    HostConfig: { NetworkMode: ctx.settings.network === 'host' ? 'host' : 'bridge' },
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    const ended = new Promise<void>((resolve) => stream.on('end', resolve));
    container.modem.demuxStream(stream, { write: (b: Buffer) => ctx.out.out(b) } as NodeJS.WritableStream, { write: (b: Buffer) => ctx.out.err(b.toString()) } as NodeJS.WritableStream);
    await container.start();
    const waited = (await container.wait()) as { StatusCode: number };
    await ended;
    return waited.StatusCode;
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}
