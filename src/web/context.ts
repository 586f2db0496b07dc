// What the parts of `otm web` (password sign-in, links, single sign-on, the API mount) share: the
// configuration, the people store, the clock, who is declared, and how a person is signed in. The
// server builds one WebContext; each part takes only this, so each is tested on its own server.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Clock } from '../engine/clock.js';
import type { ExperimenterRole } from '../manifest/types.js';
import type { Actor, PeopleStore, SignInMethod } from './people.js';
import type { AttemptLimiter } from './limiter.js';

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
