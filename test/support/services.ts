// Where the test suite finds its services. `scripts/services.sh` (run by .ci/run and `make services`)
// starts them on these addresses. A missing service fails the test that needs it: nothing is skipped.
import Docker from 'dockerode';

export const PG_URL = process.env.OTM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:55432/postgres';
export const REDIS_URL = process.env.OTM_TEST_REDIS_URL ?? 'redis://127.0.0.1:56379';

let docker: Docker | undefined;

/** A dockerode client that has answered a ping; throws a clear error when no Docker Engine runs. */
export async function requireDocker(): Promise<Docker> {
  docker ??= new Docker();
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`no Docker Engine answers on ${process.env.DOCKER_HOST ?? '/var/run/docker.sock'}: ${(err as Error).message}; run \`make services\``);
  }
  return docker;
}

/** Poll `probe` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
