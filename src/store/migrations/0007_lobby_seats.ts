// The lobby's seats: whether somebody opened a seat's page and whether they said they are ready, per
// instance, room and participant label. A label without a row has not been opened. Every change is
// notified on its own channel, `otm_lobby`, with the payload `<instance>/<room>` (neither contains a
// slash), so that every otm web replica refreshes the seat grids it streams.
import type { Migration } from '../migrate.js';

export const lobbySeats: Migration = {
  id: '0007_lobby_seats',
  sql: `
CREATE TABLE otm.lobby_seats (
  instance    text NOT NULL,
  room        text NOT NULL,
  label       text NOT NULL,
  state       text NOT NULL CHECK (state IN ('opened', 'ready')),
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (instance, room, label)
);

CREATE FUNCTION otm.lobby_seats_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Notifications with the same payload in one transaction are delivered once: a reset of a room is one.
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('otm_lobby', OLD.instance || '/' || OLD.room);
  ELSE
    PERFORM pg_notify('otm_lobby', NEW.instance || '/' || NEW.room);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER lobby_seats_notify AFTER INSERT OR UPDATE OR DELETE ON otm.lobby_seats
  FOR EACH ROW EXECUTE FUNCTION otm.lobby_seats_notify();
`,
};
