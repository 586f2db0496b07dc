// Times as people in the lab read and type them: in the lab's time zone (web.timeZone), never the
// server's or the browser's. Stored times stay RFC 3339 UTC; only the pages convert.
import { DateTime } from 'luxon';

export class LabTime {
  constructor(readonly zone: string) {}

  private at(time: Date | string): DateTime {
    return (typeof time === 'string' ? DateTime.fromISO(time) : DateTime.fromJSDate(time)).setZone(this.zone);
  }

  /** "3 Dec 2026, 14:05" */
  dateTime(time: Date | string): string {
    return this.at(time).toFormat('d LLL yyyy, HH:mm');
  }

  /** "14:05", or "3 Dec, 14:05" when `time` is not on the same day as `now`. */
  short(time: Date | string, now: Date): string {
    const t = this.at(time);
    return t.hasSame(this.at(now), 'day') ? t.toFormat('HH:mm') : t.toFormat('d LLL, HH:mm');
  }

  /** "2026-12-03T14:05:00+01:00": for a <time datetime> attribute. */
  machine(time: Date | string): string {
    return this.at(time).toISO({ suppressMilliseconds: true }) ?? '';
  }

  /** The date of `now` in the lab, as a date input wants it: "2026-12-03". */
  today(now: Date): string {
    return this.at(now).toFormat('yyyy-LL-dd');
  }

  /**
   * The instant a person means by a date ("2026-12-03") and a wall-clock time ("09:30") in the lab's
   * zone; undefined when either is not one. A time a clock change skips is moved forward, as luxon does.
   */
  parse(date: string, time: string): Date | undefined {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !/^\d{2}:\d{2}$/.test(time)) return undefined;
    const parsed = DateTime.fromISO(`${date}T${time}`, { zone: this.zone });
    return parsed.isValid ? parsed.toJSDate() : undefined;
  }
}
