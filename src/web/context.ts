// What the parts of `otm web` (password sign-in, links, single sign-on, the API mount) share: the
// configuration, the people store, the clock, who is declared, and how a person is signed in. The
// server builds one WebContext; each part takes only this, so each is tested on its own server.
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Principal } from '../access/can.js';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Clock } from '../engine/clock.js';
import type { ExperimenterRole } from '../manifest/types.js';
import type { Actor, PeopleStore, SignInMethod } from './people.js';
import type { AttemptLimiter } from './limiter.js';
import type { DesiredOperations, DesiredView } from '../http/api.js';
import type { SecretOperations } from '../http/secrets.js';
import type { StatusStore } from '../engine/status.js';
import type { LabTime } from './time.js';
import type { Text } from './text.js';

/** A person as the desired state declares them (an Experimenter object), as far as access needs to know. */
export interface Person {
  name: string;
  displayName: string;
  role: ExperimenterRole;
  email?: string;
  /** Disabled people cannot sign in; their sessions and tokens stop working at once. */
  disabled: boolean;
}

/** What a single sign-on provisioning writes: a new Experimenter row with the configured quota. */
export interface ProvisionedPerson {
  name: string;
  displayName: string;
  email: string;
  quota: { instances: number; webProcesses: number };
}

export interface SignInOptions {
  method: SignInMethod;
  /** An admin group of the identity provider makes this session an admin session. */
  adminByGroup?: boolean;
}

export interface WebContext {
  config: Config;
  /** `web.publicUrl`, or http:// and `web.listen`: the origin in links and redirects. */
  publicUrl: string;
  people: PeopleStore;
  clock: Clock;
  log: Logger;
  /** The declared, valid Experimenter of this name; undefined when nobody is. */
  person(name: string): Person | undefined;
  /** The declared people with this e-mail address (case-insensitive): none, one, or (a mistake of the lab's) several. */
  peopleByEmail(email: string): Person[];
  /** Starts a session for `person` and sets its cookie on `reply`. The caller has checked the person may sign in. */
  signIn(request: FastifyRequest, reply: FastifyReply, person: string, options: SignInOptions): Promise<void>;
  /** Writes a new Experimenter row (single sign-on provisioning); rejects when the row policy refuses it. */
  provisionPerson(person: ProvisionedPerson, by: Actor): Promise<void>;
  /** The client's address, from X-Forwarded-For only when the connection comes from a trusted proxy. */
  clientAddress(request: FastifyRequest): string;
  /** Counts failed sign-ins and e-mail requests per account and per address (429 with Retry-After when over). */
  limiter: AttemptLimiter;
  /** Renders a page template of web/views with the layout. */
  render(reply: FastifyReply, view: string, data: Record<string, unknown>, statusCode?: number): FastifyReply;
}

/** What the signed-in pages (dashboard, instances, profile, admin) and the lobby use besides the WebContext. */
export interface PageContext extends WebContext {
  /** Like render, for a signed-in page: the layout shows the navigation of the request's principal. */
  page(request: FastifyRequest, reply: FastifyReply, view: string, data: Record<string, unknown>, statusCode?: number): FastifyReply;
  /**
   * A page route's preHandler: sets the request's principal from the session cookie (principalOf
   * works after it), or sends a GET to the sign-in page and anything else a 401.
   */
  signedIn: preHandlerAsyncHookHandler;
  /** The declared objects (manifest files and rows, as the controller reads them). */
  desired: DesiredView;
  /** Writes to desired state, authorised and audited as the API's are. */
  operations: DesiredOperations;
  secrets: SecretOperations;
  /** Status and events; undefined until the store is open. */
  status(): StatusStore | undefined;
  /** One template without the layout (a part live updates replace). */
  fragment(view: string, data: Record<string, unknown>): string;
  /** Times in the lab's zone (web.timeZone). */
  time: LabTime;
  /** Every English sentence of the pages. */
  text: Text;
}

export type { Principal };
