// Live pages: a new event of an instance is announced on otm_status too (the channel that already
// names instances whose status changed), so otm web shows an event the moment it is recorded, also
// when the status row itself did not change.
import type { Migration } from '../migrate.js';

export const eventsNotify: Migration = {
  id: '0009_events_notify',
  sql: `
CREATE FUNCTION otm.event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('otm_status', NEW.instance);
  RETURN NULL;
END $$;

CREATE TRIGGER instance_events_notify AFTER INSERT ON otm.instance_events
  FOR EACH ROW EXECUTE FUNCTION otm.event_notify();
`,
};
