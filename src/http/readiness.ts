// `/readyz`: ready once the first full sync is done, every Dokku host answers and the database (when
// configured) answers. Leadership is reported but does not make a replica unready: a standby is
// healthy, it just does not act.

/** Each probe gets this long before it counts as failed, so a hung host cannot hang the endpoint. */
const PROBE_TIMEOUT_MS = 5_000;

export type CheckResult = 'ok' | string;

export interface Readiness {
  ready: boolean;
  checks: {
    initialSync: 'ok' | 'pending';
    hosts: Record<string, CheckResult>;
    database?: CheckResult;
    leader: 'leader' | 'standby';
  };
}

export interface ReadinessProbes {
  initialSyncDone(): boolean;
  /** One probe per configured Dokku host, by host name; each rejects when the host does not answer. */
  hosts: Record<string, (signal: AbortSignal) => Promise<unknown>>;
  /** Present when a database is configured; rejects when it does not answer. */
  database?: (signal: AbortSignal) => Promise<unknown>;
  isLeader(): boolean;
}

async function probe(run: (signal: AbortSignal) => Promise<unknown>): Promise<CheckResult> {
  const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  let onAbort: (() => void) | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([run(signal), timedOut]);
    return 'ok';
  } catch (err) {
    return (err as Error).message.split('\n')[0] || 'failed';
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Runs every probe at once. Concurrent callers share one round of probes, so a burst of readiness
 * requests costs the hosts and the database one check each.
 */
export function readinessChecker(probes: ReadinessProbes): () => Promise<Readiness> {
  let inFlight: Promise<Readiness> | undefined;
  const check = async (): Promise<Readiness> => {
    const names = Object.keys(probes.hosts).sort();
    const [hostResults, database] = await Promise.all([
      Promise.all(names.map((name) => probe(probes.hosts[name]!))),
      probes.database ? probe(probes.database) : Promise.resolve(undefined),
    ]);
    const hosts = Object.fromEntries(names.map((name, i) => [name, hostResults[i]!]));
    const initialSync = probes.initialSyncDone() ? 'ok' : 'pending';
    const ready = initialSync === 'ok' && hostResults.every((r) => r === 'ok') && (database === undefined || database === 'ok');
    return {
      ready,
      checks: { initialSync, hosts, ...(database !== undefined ? { database } : {}), leader: probes.isLeader() ? 'leader' : 'standby' },
    };
  };
  return () => {
    inFlight ??= check().finally(() => { inFlight = undefined; });
    return inFlight;
  };
}
