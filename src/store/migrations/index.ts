// Every migration, in the order it is applied. Append only: an applied migration never changes
// (its checksum is recorded), a new change is a new file.
import type { Migration } from '../migrate.js';
import { init } from './0001_init.js';
import { secrets } from './0002_secrets.js';
import { claims } from './0003_claims.js';
import { instanceSecrets } from './0004_instance_secrets.js';
import { people } from './0005_people.js';
import { signIn } from './0006_sign_in.js';
import { lobbySeats } from './0007_lobby_seats.js';
import { sitePages } from './0008_site_pages.js';
import { eventsNotify } from './0009_events_notify.js';

export const MIGRATIONS: readonly Migration[] = [init, secrets, claims, instanceSecrets, people, signIn, lobbySeats, sitePages, eventsNotify];
