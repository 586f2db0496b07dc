// Releases and deploys: what config:set, ps:restart, ps:start, links and builds end in. Container
// work runs under the app's own lock, never under the root lock, so other apps are not held up.
import type { Ctx } from './context.js';
import type { AppState } from './state.js';
import { STANDIN_PROCFILE } from './standin.js';
import { applyContainers } from './containers.js';

/** The scale a deploy runs: stored counts, with Dokku's defaults (web=1, other types 0) on first deploy. */
export function effectiveScale(app: AppState): Record<string, number> {
  const scale: Record<string, number> = {};
  for (const type of Object.keys(STANDIN_PROCFILE)) scale[type] = app.scale[type] ?? (type === 'web' ? 1 : 0);
  for (const [type, n] of Object.entries(app.scale)) if (type in STANDIN_PROCFILE) scale[type] = n;
  return scale;
}

export function appUrls(ctx: Ctx, name: string, app: AppState): string[] {
  if (app.config.NO_VHOST === '1' || app.domains.length === 0) {
    const port = app.containers['web.1']?.hostPort;
    return port ? [`http://127.0.0.1:${port}`] : [];
  }
  return app.domains.map((d) => `${app.letsencrypt.active ? 'https' : 'http'}://${d}`);
}

/** Deploy the app's current image with its current config; `only` limits recreation to some process types. */
export async function deploy(ctx: Ctx, name: string, only?: string[]): Promise<void> {
  ctx.out.info1(`Releasing ${name}...`);
  ctx.out.info1(`Deploying ${name} via the docker-local scheduler...`);
  const release = ctx.store.lockApp(name);
  let deployed: AppState | undefined;
  try {
    const app = ctx.state().apps[name];
    if (!app) return;
    const scale = effectiveScale(app);
    const containers = await applyContainers(ctx, name, app, scale, only);
    deployed = ctx.store.transact((s) => {
      const current = s.apps[name];
      if (!current) return undefined;
      current.containers = containers;
      current.scale = scale;
      current.deployed = true;
      current.stopped = false;
      return current;
    });
  } finally {
    release();
  }
  if (!deployed) return;
  ctx.out.info2('Application deployed:');
  for (const url of appUrls(ctx, name, deployed)) ctx.out.verbose(url);
}

/** The restart that follows config changes and links (Dokku's release-and-deploy trigger). */
export async function restartAfterConfigChange(ctx: Ctx, name: string, app: AppState): Promise<void> {
  if (!app.deployed && ctx.features.restartOnlyDeployed) return;
  ctx.out.info1(`Restarting app ${name}`);
  if (!app.deployed || app.stopped) return;
  ctx.beginBuildCapture();
  await deploy(ctx, name);
}

/** The deploy lock message when a build cannot start; undefined when the lock is free. */
export function deployLockHeld(ctx: Ctx, name: string, app: AppState): boolean {
  if (ctx.faults.lockedApps.includes(name)) return true;
  if (!app.lockFile) return false;
  if (app.lockPid === undefined) return true;
  try {
    process.kill(app.lockPid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run a build (git:from-image, git:from-archive, git:sync --build, ps:rebuild) under the app's deploy
 * lock, failing fast like `flock -n` when it is held. `commit` records the source once the build worked.
 */
export async function withDeployLock(ctx: Ctx, name: string, build: () => Promise<void>): Promise<void> {
  ctx.beginBuildCapture();
  const acquired = ctx.store.transact((s) => {
    const app = s.apps[name];
    if (!app || deployLockHeld(ctx, name, app)) return false;
    app.lockFile = true;
    app.lockPid = process.pid;
    return true;
  });
  if (!acquired) {
    ctx.out.fail(`${name} currently has a deploy lock in place. Exiting...\nRun 'apps:unlock' to release the existing deploy lock`);
  }
  try {
    await build();
  } finally {
    ctx.store.transact((s) => {
      const app = s.apps[name];
      if (app && app.lockPid === process.pid) {
        app.lockFile = false;
        delete app.lockPid;
      }
    });
  }
}
