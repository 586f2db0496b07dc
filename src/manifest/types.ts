// The desired-state model: what a lab admin writes in a manifest (or a web UI writes in a row),
// after the schema layer has applied its defaults. These types mirror schemas/*.schema.json,
// which stay the single source of truth; a test checks that the two agree.

export const API_VERSION = 'otree-manager/v1';

export interface ObjectMeta {
  name: string;
  labels: Record<string, string>;
  /** Free-form notes; never interpreted by the daemon. */
  annotations?: Record<string, string>;
}

/** A secret is never written inline in status, logs or plans; `value` is allowed but warned about. */
/** `secretRef` names a secret of the same instance stored encrypted in the database (through the API). */
export type SecretRef = { fromFile: string } | { fromEnv: string } | { value: string } | { secretRef: string };

export type InstanceState = 'running' | 'stopped';
export type AuthLevel = 'STUDY' | 'DEMO' | 'OFF';
export type DeletionPolicy = 'Retain' | 'Backup' | 'Delete';

export type Source =
  | { push: Record<string, never> }
  | { git: { url: string; ref: string } }
  | { image: { ref: string } }
  | { archive: { path: string } };

export interface Room {
  name: string;
  displayName: string;
  participantLabels: string[];
}

export interface FreezeWindow {
  /** RFC 3339 timestamps. */
  from: string;
  to: string;
}

export interface OTreeInstanceSpec {
  owner: string;
  /** Other experimenters who share the instance (see the authorisation rules). */
  collaborators: string[];
  state: InstanceState;
  otree: {
    version: '5' | '3';
    production: boolean;
    authLevel: AuthLevel;
    adminPassword: SecretRef;
    restKey?: SecretRef;
  };
  source: Source;
  processes: { web: number; worker: number };
  database: { deletionPolicy: DeletionPolicy };
  redis: boolean;
  domains: string[];
  tls: { letsencrypt: boolean };
  env: Record<string, string>;
  rooms: Room[];
  /** The public lobby of the rooms (otm web's /lobby pages, kiosk shortcuts, seat cards). */
  lobby: { enabled: boolean };
  resetDatabase: { generation: number };
  restart: { generation: number };
  freezeWindows: FreezeWindow[];
  expiresAt?: string;
  backups?: { schedule: string; keep: number };
  resources: { memory?: string; cpu?: string };
  /** Name of the configured Dokku host; absent means the first configured host. */
  host?: string;
  /** Take over an existing Dokku app that lacks the ownership marker. */
  adopt: boolean;
}

export interface OTreeInstance {
  apiVersion: typeof API_VERSION;
  kind: 'OTreeInstance';
  metadata: ObjectMeta;
  spec: OTreeInstanceSpec;
}

export type ExperimenterRole = 'experimenter' | 'admin';

export interface ExperimenterSpec {
  displayName: string;
  email?: string;
  role: ExperimenterRole;
  /** Cannot sign in; sessions and tokens stop working. */
  disabled: boolean;
  /** OpenSSH public keys (ed25519, ecdsa, rsa), one per entry. */
  sshKeys: string[];
  quota: { instances: number; webProcesses: number };
}

export interface Experimenter {
  apiVersion: typeof API_VERSION;
  kind: 'Experimenter';
  metadata: ObjectMeta;
  spec: ExperimenterSpec;
}

export type ManifestObject = OTreeInstance | Experimenter;
export type Kind = ManifestObject['kind'];

/** Where an object or an error came from: a file (with position) or a database row. */
export interface Origin {
  /** A path relative to the manifests directory, or `row:<table>/<name>` for database rows. */
  source: string;
  /** 1-based; 0 when unknown. */
  line: number;
  column: number;
}

export type Severity = 'error' | 'warning';

export interface ManifestIssue {
  severity: Severity;
  origin: Origin;
  /** Dotted field path, e.g. `spec.processes.web`; empty for whole-document problems. */
  path: string;
  /** A stable code from the error catalog, e.g. `OTREE5_SINGLE_WEB`. */
  code: string;
  message: string;
}

/** A validated object together with where it was declared. */
export interface Declared<T extends ManifestObject = ManifestObject> {
  object: T;
  origin: Origin;
  /** Positions of the fields that cross-object checks report on (`metadata.name`, `spec.owner`, `spec.host`, `spec.domains[0]`…), by dotted path. */
  fields?: Record<string, Origin>;
  /** The source's own count of spec changes (a database row's `generation`); when set, status reports it as observedGeneration. */
  generation?: number;
}
