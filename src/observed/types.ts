// What a Dokku host actually runs, normalised: no CLI text, no version differences.
// The driver builds these from Dokku's reports; plan() reads them. Pure data, safe to import anywhere.

export interface DokkuVersion {
  major: number;
  minor: number;
  patch: number;
  /** The line `dokku version` printed, verbatim. */
  raw: string;
}

export type ProcessStatus = 'running' | 'stopped' | 'mixed' | 'missing';

export interface ObservedContainer {
  id: string;
  app: string;
  processType: string;
  /** e.g. `web.1` */
  dyno: string;
  state: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  restartCount: number;
  exitCode: number;
  oomKilled: boolean;
  health?: 'starting' | 'healthy' | 'unhealthy';
  /** The environment the container really has (values are secrets: never log them). */
  env: Record<string, string>;
  startedAt?: string;
}

export interface ObservedApp {
  name: string;
  createdAt?: string;
  /** Something has been deployed (Dokku's `ps:report --deployed`). */
  deployed: boolean;
  /** `git-sync`, `docker-image`, `tar` (archive), `git` (push), or empty. */
  deploySource: string;
  /** For images the image ref, for git:sync the URL#ref, for archives the archive's identity. */
  deploySourceMetadata: string;
  /** Process type → count, as `ps:scale` reports it. */
  scale: Record<string, number>;
  /** Overall status from `ps:report` (running, stopped, mixed). */
  status: ProcessStatus;
  /** Whether Dokku will start the app on boot / after deploy (`ps:report --ps-restore`... not stopped explicitly). */
  stoppedByUser: boolean;
  /** The app's config, keys and decoded values (values are secrets: never log them). */
  config: Record<string, string>;
  domains: string[];
  vhostsEnabled: boolean;
  /** Linked service names per plugin. */
  links: { postgres: string[]; redis: string[] };
  letsencrypt: { active: boolean; expiresAt?: string };
  /** `resource:report` limits for all process types (`--resource-memory` etc. of the `_default_` type). */
  resources: { memory?: string; cpu?: string };
  /** The deploy lock is held. */
  locked: boolean;
  /**
   * True when the observation skipped this app's per-app reads (config, scale): only the bulk reports
   * were read, so `config` and `scale` are empty rather than known to be empty.
   */
  partial?: boolean;
  /** Containers seen by the Docker observer; absent when no Docker Engine is observed. */
  containers?: ObservedContainer[];
}

export interface ObservedService {
  plugin: 'postgres' | 'redis';
  name: string;
  status: string;
  /** Apps this service is linked to. */
  links: string[];
}

export interface ObservedHost {
  host: string;
  version: DokkuVersion;
  apps: Map<string, ObservedApp>;
  /** Keyed by `<plugin>/<name>`, e.g. `postgres/alice-pg`. */
  services: Map<string, ObservedService>;
  /** Which optional plugins answer on this host. */
  plugins: { postgres: boolean; redis: boolean; letsencrypt: boolean; acl: boolean };
  /** ssh-keys:list: key name → fingerprints. */
  sshKeys: Map<string, string[]>;
  /** acl:list per app: users with push access. Only apps that were read are present. */
  acl: Map<string, string[]>;
}
