// The stand-in for an oTree project: a tiny image built locally with `docker import` (there is no
// registry), whose web process is busybox httpd on $PORT answering `GET /login` with 200 like oTree does
// and `GET /cgi-bin/env` with the environment the container got (so tests can read the config it runs
// with). The worker process just sleeps, as oTree 5's `prodserver2of2` does. `/bin/otree` answers
// `otree resetdb --noinput` the way oTree does, so `dokku run APP otree resetdb --noinput` really runs.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, copyFile, symlink, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireDocker } from './services.js';

export { STANDIN_IMAGE, STANDIN_PROCFILE } from '../dokku-sim/standin.js';
import { STANDIN_IMAGE } from '../dokku-sim/standin.js';

const BUSYBOX = '/usr/bin/busybox';
/** Bumped whenever the image's content changes, so an older build under the same tag is replaced. */
const CONTENT_LABEL = 'org.otree-manager.standin-content';
const CONTENT_VERSION = '3';

/** oTree's CLI as far as the product uses it: `resetdb` (prompting unless --noinput). */
const OTREE_SCRIPT = `#!/bin/sh
case "$1" in
  resetdb)
    if [ "$2" != "--noinput" ]; then
      printf 'This will drop all tables and reset the database. Proceed? (y or n): '
      if ! read -r answer; then
        echo 'EOFError: EOF when reading a line' >&2
        exit 1
      fi
      [ "$answer" = y ] || exit 1
    fi
    case "$DATABASE_URL" in
      postgres*) engine=postgresql ;;
      *) engine=sqlite ;;
    esac
    echo "Database engine: $engine" >&2
    echo "Created new tables and columns." >&2
    ;;
  *)
    echo "Unknown command: otree $1" >&2
    exit 1
    ;;
esac
`;

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
      const info = await docker.getImage(tag).inspect();
      if (info.Config?.Labels?.[CONTENT_LABEL] === CONTENT_VERSION) return tag;
    } catch { /* not there yet: build it */ }
    const root = await mkdtemp(join(tmpdir(), 'otm-standin-'));
    try {
      await mkdir(join(root, 'bin'), { recursive: true });
      await mkdir(join(root, 'www/cgi-bin'), { recursive: true });
      await mkdir(join(root, 'tmp'), { recursive: true });
      await copyFile(BUSYBOX, join(root, 'bin/busybox'));
      await chmod(join(root, 'bin/busybox'), 0o755);
      for (const applet of ['sh', 'httpd', 'env', 'sleep', 'cat', 'echo', 'ls', 'true', 'false', 'printf']) {
        await symlink('busybox', join(root, 'bin', applet));
      }
      await writeFile(join(root, 'www/login'), '<html><body>oTree stand-in: login</body></html>\n');
      await writeFile(join(root, 'www/index.html'), '<html><body>oTree stand-in</body></html>\n');
      // httpd runs /cgi-bin/env as a CGI script: the container's environment, as text.
      // CRLF after the header: strict HTTP clients (Node's fetch) reject a bare LF there.
      await writeFile(join(root, 'www/cgi-bin/env'), "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nenv\n");
      await chmod(join(root, 'www/cgi-bin/env'), 0o755);
      await writeFile(join(root, 'bin/otree'), OTREE_SCRIPT);
      await chmod(join(root, 'bin/otree'), 0o755);
      const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await run('docker', ['import', '--change', 'ENV PATH=/bin', '--change', `LABEL ${CONTENT_LABEL}=${CONTENT_VERSION}`, '-', tag], tar.stdout!);
      return tag;
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  })();
  building.catch(() => { building = undefined; });
  return building;
}
