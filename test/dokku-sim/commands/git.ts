// git:* deployment sources. git:from-image deploys the given local image; git:sync and
// git:from-archive cannot build here, so they record the source and deploy the stand-in image.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CommandSpec, Ctx } from '../context.js';
import { Exit } from '../output.js';
import type { AppState } from '../state.js';
import { runReport } from '../report.js';
import type { ReportDef } from '../report.js';
import { deploy, withDeployLock } from '../deploy.js';
import { imageExists } from '../containers.js';
import { readStdinAll } from '../stdin.js';

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

export function gitReport(ctx: Ctx): ReportDef {
  if (ctx.features.goDomainsGitReports) {
    return {
      type: 'git', prefix: '--git-', implementation: 'go', goJson: 'unprefixed',
      rows: (_c, _name, app) => [
        ['--git-computed-archive-max-files', '10000'],
        ['--git-computed-archive-max-size', '1073741824'],
        ['--git-computed-deploy-branch', 'master'],
        ['--git-computed-keep-git-dir', 'false'],
        ['--git-deploy-branch', ''],
        ['--git-global-archive-max-files', ''],
        ['--git-global-archive-max-size', ''],
        ['--git-global-deploy-branch', ''],
        ['--git-global-keep-git-dir', ''],
        ['--git-keep-git-dir', ''],
        ['--git-last-updated-at', app.gitLastUpdatedAt],
        ['--git-rev-env-var', 'GIT_REV'],
        ['--git-sha', app.gitSha],
        ['--git-source-image', app.sourceImage],
      ],
    };
  }
  return {
    type: 'git', prefix: '--git-', implementation: 'bash', emptySingle: 'fail',
    rows: (_c, _name, app) => [
      ['--git-deploy-branch', 'master'],
      ['--git-global-deploy-branch', 'master'],
      ['--git-keep-git-dir', 'false'],
      ['--git-rev-env-var', 'GIT_REV'],
      ['--git-sha', app.gitSha],
      ['--git-source-image', app.sourceImage],
      ['--git-last-updated-at', app.gitLastUpdatedAt],
    ],
  };
}

/** Leading `--flag [value]` options of a bash git subcommand; the rest are positionals. */
function bashOptions(args: string[], withValue: string[]): { options: Record<string, string | true>; positionals: string[] } {
  const options: Record<string, string | true> = {};
  let i = 0;
  while (i < args.length && args[i]!.startsWith('--') && args[i] !== '--') {
    const a = args[i]!;
    if (withValue.includes(a)) {
      options[a] = args[i + 1] ?? '';
      i += 2;
    } else {
      options[a] = true;
      i += 1;
    }
  }
  return { options, positionals: args.slice(i) };
}

function noChanges(ctx: Ctx): never {
  ctx.out.warn('No changes detected, skipping git commit');
  ctx.out.warn("Call 'ps:rebuild' on app to rebuild the app from existing source");
  throw new Exit(1);
}

/**
 * The commit and build shared by every git source. The source is recorded for the deploy to use and
 * rolled back when the deploy fails, so a retry is not "No changes detected".
 */
async function buildAndDeploy(ctx: Ctx, name: string, source: Partial<AppState> & { image: string; gitSha: string }): Promise<void> {
  ctx.out.info1(`Building ${name} from Dockerfile`);
  const fields = Object.keys(source) as (keyof AppState)[];
  const previous = ctx.store.transact((s) => {
    const app = s.apps[name];
    if (!app) return undefined;
    const before = { fields: Object.fromEntries(fields.map((f) => [f, app[f]])), gitRev: app.config.GIT_REV, updated: app.gitLastUpdatedAt };
    Object.assign(app, source, { gitLastUpdatedAt: String(ctx.now()) });
    app.config.GIT_REV = source.gitSha;
    return before;
  });
  try {
    await deploy(ctx, name);
  } catch (err) {
    ctx.store.transact((s) => {
      const app = s.apps[name];
      if (!app || !previous) return;
      Object.assign(app, previous.fields, { gitLastUpdatedAt: previous.updated });
      if (previous.gitRev === undefined) delete app.config.GIT_REV;
      else app.config.GIT_REV = previous.gitRev;
    });
    throw err;
  }
}

export const gitCommands: Record<string, CommandSpec> = {
  'git:report': {
    family: (ctx) => (ctx.features.goDomainsGitReports ? 'go' : 'bash'),
    rawArgs: true,
    core: true,
    run: (ctx, args) => runReport(ctx, gitReport(ctx), args),
  },
  'git:from-image': {
    family: 'bash',
    core: true,
    mutating: true,
    async run(ctx, args) {
      const { options, positionals } = bashOptions(args, ['--build-dir']);
      const [name, image] = positionals;
      const app = ctx.verifyAppBash(name);
      if (!image) return ctx.out.fail('Please specify a docker image');
      ctx.beginBuildCapture();
      if (!options['--force'] && app.deploySource === 'docker-image' && app.sourceImage === image) noChanges(ctx);
      await withDeployLock(ctx, name!, async () => {
        ctx.out.info1('Generating build context');
        if (options['--force']) ctx.out.info1('Force pulling image');
        if (await imageExists(ctx, image)) {
          if (!options['--force']) ctx.out.info1('Image exists on host, skipping pull');
        } else {
          ctx.out.info1('Pulling image');
          ctx.out.stderrLine(`Error response from daemon: pull access denied for ${image.split(':')[0]}, repository does not exist or may require 'docker login'`);
          ctx.out.fail(`Failed to pull image: ${image}`);
        }
        ctx.out.info1('Updating git repository with specified build context');
        ctx.out.info1('Cleaning up...');
        await buildAndDeploy(ctx, name!, {
          image, sourceImage: image, deploySource: 'docker-image', deploySourceMetadata: image,
          gitSha: sha1(`${name}\n${image}\n${ctx.now()}\n${ctx.hex(4)}`),
        });
      });
    },
  },
  'git:from-archive': {
    family: 'bash',
    core: true,
    mutating: true,
    async run(ctx, args) {
      const { options, positionals } = bashOptions(args, ['--archive-type', '--build-dir']);
      const [name, url] = positionals;
      ctx.verifyAppBash(name);
      if (!url) return ctx.out.fail('Please specify an archive url or -- to fetch the archive from stdin');
      ctx.beginBuildCapture();
      const type = typeof options['--archive-type'] === 'string' ? options['--archive-type'] : 'tar';
      let content: string;
      if (url === '--') {
        ctx.out.info1('Fetching tar file from stdin');
        content = readStdinAll();
        ctx.out.verbose(`Received ${Buffer.byteLength(content)} bytes`);
      } else {
        ctx.out.info1(`Downloading tar file from ${url}`);
        content = archiveIdentity(url);
      }
      ctx.out.info1('Generating build context');
      ctx.out.verbose('Striping 0 worth of directories from tarball');
      const sha = sha1(`${name}\n${content}`);
      if (ctx.state().apps[name!]?.gitSha === sha) noChanges(ctx);
      await withDeployLock(ctx, name!, async () => {
        ctx.out.info1('Updating git repository with specified build context');
        await buildAndDeploy(ctx, name!, {
          image: ctx.settings.buildImage, sourceImage: '', deploySource: type, deploySourceMetadata: url === '--' ? '--' : url, gitSha: sha,
        });
      });
    },
  },
  'git:sync': {
    family: 'bash',
    core: true,
    mutating: true,
    async run(ctx, args) {
      const { options, positionals } = bashOptions(args, []);
      const [name, url, ref] = positionals;
      const app = ctx.verifyAppBash(name);
      if (!url) return ctx.out.fail('Missing GIT_REMOTE parameter');
      const target = ref ? `${url}#${ref}` : url;
      const sha = sha1(target);
      const changed = app.gitSha !== sha;
      if (app.gitRemote === '') {
        ctx.out.info1(`Cloning ${name} from ${target}`);
        if (ref && !/^[0-9a-f]{40}$/.test(ref)) ctx.out.verbose(`Detected branch, setting deploy-branch to ${ref}`);
      } else {
        ctx.out.verbose(`Fetching remote code for ${name} from ${target}`);
      }
      ctx.store.transact((s) => {
        const a = ctx.verifyAppBash(name, s);
        a.gitRemote = url;
        a.gitSha = sha;
        a.gitLastUpdatedAt = String(ctx.now());
      });
      const build = options['--build'] === true || (options['--build-if-changes'] === true && changed);
      if (options['--build-if-changes'] && !changed) ctx.out.verbose('Skipping build as no changes were detected');
      if (!build) return;
      ctx.beginBuildCapture();
      await withDeployLock(ctx, name!, () => buildAndDeploy(ctx, name!, {
        image: ctx.settings.buildImage, sourceImage: '', deploySource: 'git-sync', deploySourceMetadata: `${url}#${sha}`, gitSha: sha,
      }));
    },
  },
};

/** What identifies an archive's content: the file's bytes when the URL is local, else the URL itself. */
function archiveIdentity(url: string): string {
  const path = url.startsWith('file://') ? new URL(url).pathname : url.startsWith('/') ? url : undefined;
  if (!path) return url;
  try {
    return readFileSync(path).toString('base64');
  } catch {
    return url;
  }
}
