// The day files being appended to, by name, with a bound on open handles: the least recently written are
// closed (their state kept) and reopened on demand. Only the current day's files are kept at all: a retry for
// a past day goes to today's file, so the ids of other days are no longer needed once the date changes.
import { join } from "node:path";
import type { Catalog } from "./catalog.ts";
import { appendElement, type DayFile } from "./day-file.ts";
import type { StoreFs } from "./fs.ts";
import { readLines } from "./lines.ts";
import { openDayFile } from "./open-day-file.ts";
import { logRepair } from "./recovery.ts";
import { StoreUnavailableError } from "./types.ts";

export class OpenDayFiles {
  /** fd is -1 for the ones closed to save handles. */
  private readonly days = new Map<string, DayFile>();
  private readonly order = new Set<string>();
  /** Files refused for appending (another layout, too big to re-lay out): not rescanned per upload. */
  private readonly refused = new Map<string, StoreUnavailableError>();
  private currentDay = "";
  /** Report ids of earlier days' files, for retries that cross midnight (see writer.ts). */
  private readonly earlier = new Map<string, Set<string>>();

  constructor(
    private readonly fs: StoreFs,
    private readonly dir: string,
    private readonly maxOpen: number,
    private readonly catalog: Catalog,
    private readonly clock: () => Date,
  ) {}

  /** Whether `name` is being appended to (open or closed only to save handles). */
  holds(name: string): boolean {
    return this.days.has(name);
  }

  /** The open day file for `name` (of `date`), opening (and repairing) it or reopening a closed handle. */
  async get(name: string, date: string): Promise<{ file: DayFile; created: boolean }> {
    let file = this.days.get(name);
    let created = false;
    if (file && file.fd === -1) file.fd = this.fs.open(file.path, false);
    if (!file) {
      if (date !== this.currentDay) this.forgetOtherDays(date);
      const refusal = this.refused.get(name);
      if (refusal) throw refusal;
      let opened: Awaited<ReturnType<typeof openDayFile>>;
      try {
        opened = await openDayFile(this.fs, join(this.dir, name), { clock: this.clock });
      } catch (error) {
        if (error instanceof StoreUnavailableError) this.refused.set(name, error);
        throw error;
      }
      file = opened.file;
      created = opened.created;
      logRepair(name, opened.repair, this.catalog);
      this.catalog.setCount(name, { bytes: file.size, reports: file.count });
      this.days.set(name, file);
    }
    this.order.delete(name);
    this.order.add(name);
    while (this.order.size > this.maxOpen) {
      const coldest = this.order.values().next().value as string;
      this.order.delete(coldest);
      const cold = this.days.get(coldest);
      if (cold && cold.fd !== -1) {
        this.fs.close(cold.fd);
        cold.fd = -1;
      }
    }
    return { file, created };
  }

  /** Appends to a day file, reopening it for the moment if it was closed to save handles meanwhile. */
  append(file: DayFile, id: string, bytes: Uint8Array): void {
    const reopened = file.fd === -1;
    if (reopened) file.fd = this.fs.open(file.path, false);
    try {
      appendElement(this.fs, file, id, bytes);
    } finally {
      if (reopened) {
        this.fs.close(file.fd);
        file.fd = -1;
      }
    }
  }

  closeAll(): void {
    for (const file of this.days.values()) if (file.fd !== -1) this.fs.close(file.fd);
    this.days.clear();
    this.order.clear();
  }

  /** The report ids of another day's file (a past one), read once from its lines' starts. */
  async idsOf(name: string): Promise<Set<string>> {
    const open = this.days.get(name);
    if (open) return open.ids;
    let ids = this.earlier.get(name);
    if (!ids) {
      ids = this.catalog.has(name) ? await readIds(this.fs, join(this.dir, name)) : new Set();
      this.earlier.set(name, ids);
    }
    return ids;
  }

  private forgetOtherDays(today: string): void {
    this.currentDay = today;
    this.earlier.clear();
    for (const [name, file] of this.days) {
      if (name.endsWith(`_${today}.json`)) continue;
      if (file.fd !== -1) this.fs.close(file.fd);
      // Kept for a day: a retry just after midnight is checked against it.
      this.earlier.set(name, file.ids);
      this.days.delete(name);
      this.order.delete(name);
    }
    this.refused.clear();
  }
}

const ID_AT_START = /^\{"report_id":"([^"]*)"/;

/** The ids at the start of each line of a day file, lower-cased; an unreadable file has none. */
async function readIds(fs: StoreFs, path: string): Promise<Set<string>> {
  const ids = new Set<string>();
  let fd = -1;
  try {
    fd = fs.openRead(path);
    for await (const line of readLines(fs, fd, 0, fs.size(fd), { head: 128 })) {
      const id = line.text && ID_AT_START.exec(line.text)?.[1];
      if (id) ids.add(id.toLowerCase());
    }
  } catch {
    // Nothing to dedupe against: at worst a retry is stored twice (at least once, never lost).
  } finally {
    if (fd !== -1) fs.close(fd);
  }
  return ids;
}
