// The stand-in for an oTree project: a tiny image built locally with `docker import` (there is no
// registry), whose web process is busybox httpd on $PORT answering `GET /login` with 200 like oTree does
// and `GET /env` with the environment the container got (so tests can read the config it runs with).
// The worker process just sleeps, as oTree 5's `prodserver2of2` does.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, copyFile, symlink, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireDocker } from './services.js';

export const STANDIN_IMAGE = 'otm-standin/otree:1';
const BUSYBOX = '/usr/bin/busybox';

/** The command each process type runs in the stand-in image (the simulator's "Procfile"). */
export const STANDIN_PROCFILE: Record<string, string[]> = {
  web: ['/bin/sh', '-c', 'exec httpd -f -v -p "${PORT:-5000}" -h /www'],
  worker: ['/bin/sh', '-c', 'exec sleep 2147483647'],
};

function run(cmd: string, args: string[], input?: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    if (input) input.pipe(child.stdin!);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

let building: Promise<string> | undefined;

/** Build the stand-in image once per process (and not at all when the Engine already has it). */
export function ensureStandinImage(tag = STANDIN_IMAGE): Promise<string> {
  building ??= (async () => {
    const docker = await requireDocker();
    try {
      await docker.getImage(tag).inspect();
      return tag;
    } catch { /* not there yet: build it */ }
    const root = await mkdtemp(join(tmpdir(), 'otm-standin-'));
    try {
      await mkdir(join(root, 'bin'), { recursive: true });
      await mkdir(join(root, 'www/cgi-bin'), { recursive: true });
      await mkdir(join(root, 'tmp'), { recursive: true });
      await copyFile(BUSYBOX, join(root, 'bin/busybox'));
      await chmod(join(root, 'bin/busybox'), 0o755);
      for (const applet of ['sh', 'httpd', 'env', 'sleep', 'cat', 'echo', 'ls', 'true', 'false']) {
        await symlink('busybox', join(root, 'bin', applet));
      }
      await writeFile(join(root, 'www/login'), '<html><body>oTree stand-in: login</body></html>\n');
      await writeFile(join(root, 'www/index.html'), '<html><body>oTree stand-in</body></html>\n');
      // httpd maps /cgi-bin/x to a script; a redirect-free alias keeps /env short for tests.
      await writeFile(join(root, 'www/cgi-bin/env'), '#!/bin/sh\necho "Content-Type: text/plain"\necho\nenv\n');
      await chmod(join(root, 'www/cgi-bin/env'), 0o755);
      await writeFile(join(root, 'etc-httpd.conf'), '');
      const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await run('docker', ['import', '--change', 'ENV PATH=/bin', '-', tag], tar.stdout!);
      return tag;
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  })();
  building.catch(() => { building = undefined; });
  return building;
}
