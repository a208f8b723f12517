// The day scans behind GET /api/hosts/{ip}/series, kept for the days looked at last: a closed day is
// answered without reading it again, today's file only from where the last scan stopped.
import type { Store } from "../store/types.ts";
import { type DayScan, scanDay } from "./day-series.ts";

/** A scan is a few numbers per report: 64 days of 5-minute reports are well under a megabyte. */
const KEPT_DAYS = 64;

export class SeriesCache {
  readonly #scans = new Map<string, DayScan>();

  constructor(private readonly store: Store) {}

  /** The scan of that day, or null when nothing is stored for it. */
  async scan(ip: string, date: string): Promise<DayScan | null> {
    const key = `${ip}_${date}`;
    const kept = this.#scans.get(key);
    const listed = (await this.store.listFiles({ ip, date }))[0];
    if (kept && listed && listed.bytes === kept.bytes) return this.#keep(key, kept);
    const body = await this.store.readDay(ip, date);
    if (body === null) {
      this.#scans.delete(key);
      return null;
    }
    // A day that shrank was rewritten (repaired): scanned again from its start.
    const previous = kept && listed && listed.bytes > kept.bytes ? kept : null;
    return this.#keep(key, await scanDay(body, previous));
  }

  #keep(key: string, scan: DayScan): DayScan {
    this.#scans.delete(key);
    this.#scans.set(key, scan);
    for (const oldest of this.#scans.keys()) {
      if (this.#scans.size <= KEPT_DAYS) break;
      this.#scans.delete(oldest);
    }
    return scan;
  }
}
