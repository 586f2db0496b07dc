// What one invocation knows: the emulated version, global flags, output, the state store and
// settings from the environment. Command handlers receive it.
import { randomBytes } from 'node:crypto';
import { Output } from './output.js';
import type { FlagSpec } from './output.js';
import type { Store, AppState, SimState } from './state.js';
import type { Features, Version } from './version.js';
import type { Faults } from './faults.js';

export type Family = 'go' | 'bash';

export interface ParsedFlags {
  [name: string]: string | boolean | string[] | undefined;
}

export interface CommandSpec {
  family: Family | ((ctx: Ctx) => Family);
  /** Flags a Go subcommand declares (pflag); unknown ones end the call with exit 2. */
  flags?: FlagSpec[] | ((ctx: Ctx) => FlagSpec[]);
  /** Parses its own arguments (reports, run): no pflag pass. */
  rawArgs?: boolean;
  /** Changes state (recorded in the invocation log); a function when it depends on the arguments. */
  mutating?: boolean | ((args: string[]) => boolean);
  /** Core plugin: `--app X` is inserted as the first argument. */
  core?: boolean;
  run(ctx: Ctx, args: string[], flags: ParsedFlags): Promise<void> | void;
}

export interface Settings {
  /** Global vhost domain; empty means none is configured (apps get NO_VHOST=1). */
  globalDomain: string;
  /** `0` never, `1` always, `auto` when an Engine answers. */
  docker: string;
  /** Image deployed for git:sync / git:from-archive (they cannot really build here). */
  buildImage: string;
  /** Prefix of container names, unique per simulator root. */
  containerPrefix: string;
  /** Identifies this root in container labels. */
  rootId: string;
  /** `host` (containers share the host network; default) or `bridge` (web's port 5000 published on 127.0.0.1). */
  network: 'host' | 'bridge';
}

export class Ctx {
  readonly out: Output = new Output();
  force = false;
  appFlag: string | undefined;
  /** The invoked command name (`apps:create`). */
  command = '';

  constructor(
    readonly version: Version,
    readonly features: Features,
    readonly store: Store,
    readonly settings: Settings,
    readonly faults: Faults,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Unix seconds (DOKKU_SIM_NOW pins it, for outputs that must not vary). */
  now(): number {
    return this.env.DOKKU_SIM_NOW ? Number(this.env.DOKKU_SIM_NOW) : Math.floor(Date.now() / 1000);
  }

  hex(bytes: number): string {
    return randomBytes(bytes).toString('hex');
  }

  state(): SimState {
    return this.store.read();
  }

  /** Go VerifyAppName: specific messages with exit 1 for empty or malformed names, 20 when missing. */
  verifyAppGo(app: string | undefined, state: SimState = this.state()): AppState {
    if (!app) return this.out.fail('Please specify an app to run the command on');
    if (!isValidExistingAppName(this.features.strictAppNames, app)) return this.out.fail(appNameRules(this.features.strictAppNames));
    const found = state.apps[app];
    if (!found) return this.out.appMissing(app);
    return found;
  }

  /** bash verify_app_name: every failure reads "App X does not exist", exit 20. */
  verifyAppBash(app: string | undefined, state: SimState = this.state()): AppState {
    const found = app ? state.apps[app] : undefined;
    if (!app || !found || !isValidExistingAppName(this.features.strictAppNames, app)) return this.out.appMissing(app ?? '');
    return found;
  }

  /** Restarts and builds in 0.38.0+ tee stderr into stdout from this point on. */
  beginBuildCapture(): void {
    if (this.features.buildOutputMerged) this.out.stderrToStdout = true;
  }
}

export function appNameRules(strict: boolean): string {
  return strict
    ? 'App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens'
    : 'App name must begin with lowercase alphanumeric character, and cannot include uppercase characters, colons, or underscores';
}

export function isValidNewAppName(strict: boolean, app: string): boolean {
  return strict ? /^[a-z0-9][a-z0-9.-]*$/.test(app) : /^[a-z0-9][^/:_A-Z]*$/.test(app);
}

export function isValidExistingAppName(strict: boolean, app: string): boolean {
  return isValidNewAppName(strict, app) || (strict && /^[a-z0-9][a-z0-9._-]*$/.test(app));
}
