// The stand-in oTree project: the image the simulator deploys when it cannot build, and the
// commands its process types run (its "Procfile"). Shared by the simulator and the image builder.

export const STANDIN_IMAGE = 'otm-standin/otree:1';

/** The port Dokku gives the web process in $PORT. */
export const WEB_PORT = 5000;

/** The command each process type runs in the stand-in image. */
export const STANDIN_PROCFILE: Record<string, string[]> = {
  web: ['/bin/sh', '-c', 'exec httpd -f -v -p "${PORT:-5000}" -h /www'],
  worker: ['/bin/sh', '-c', 'exec sleep 2147483647'],
};

/**
 * The web command when containers share the host's network (no bridge): httpd listens on a port of
 * its own on 127.0.0.1, while $PORT still reads 5000 as Dokku sets it.
 */
export function hostNetworkWebCommand(port: number): string[] {
  return ['/bin/sh', '-c', `exec httpd -f -v -p 127.0.0.1:${port} -h /www`];
}
