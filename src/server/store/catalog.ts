// What the store knows about its files without reading them: every day file's name, its size and report
// count once known, the newest date per ip, and the latest summary per host.
import { parseDayFileName } from "./day-file.ts";
import type { FileInfo, HostSummary } from "./types.ts";

export interface Counted {
  bytes: number;
  reports: number;
}

/** One day file as listed; bytes and reports are filled in once known. */
type Entry = Pick<FileInfo, "name" | "ip" | "date" | "location"> & Partial<Counted>;

export class Catalog {
  private readonly names = new Map<string, Entry>();
  /** The entries in name order, kept between listings; rebuilt when a file is added. */
  private sorted: Entry[] | null = null;
  private readonly newest = new Map<string, string>();
  private readonly summaries = new Map<string, HostSummary>();
  /** Lines set aside as damaged since start, for /health. */
  damagedLines = 0;

  noteDamaged(lines: number): void {
    this.damagedLines += lines;
  }

  /** Adds a day file (ignores names that are not one). */
  add(name: string): void {
    if (this.names.has(name)) return;
    const parsed = parseDayFileName(name);
    if (!parsed) return;
    this.names.set(name, { name, ...parsed, location: "local" });
    this.sorted = null;
    const newest = this.newest.get(parsed.ip);
    if (!newest || parsed.date > newest) this.newest.set(parsed.ip, parsed.date);
  }

  /** Forgets a day file that left the directory (archived); the host summary stays. */
  remove(name: string): void {
    const entry = this.names.get(name);
    if (!entry) return;
    this.names.delete(name);
    this.sorted = null;
    if (this.newest.get(entry.ip) !== entry.date) return;
    let newest: string | undefined;
    for (const other of this.names.values()) {
      if (other.ip === entry.ip && (!newest || other.date > newest)) newest = other.date;
    }
    if (newest) this.newest.set(entry.ip, newest);
    else this.newest.delete(entry.ip);
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  get size(): number {
    return this.names.size;
  }

  newestDate(ip: string): string | null {
    return this.newest.get(ip) ?? null;
  }

  /** Per ip, the newest date: where the host summaries come from at start. */
  newestDays(): IterableIterator<[string, string]> {
    return this.newest.entries();
  }

  setCount(name: string, counted: Counted): void {
    const entry = this.names.get(name);
    if (!entry) return;
    entry.bytes = counted.bytes;
    entry.reports = counted.reports;
  }

  setSummary(summary: HostSummary): void {
    this.summaries.set(summary.ip, summary);
  }

  /**
   * The day files matching `filter`, sorted by name, with their counts when known; no file is read and
   * nothing is copied but the list (the entries are the catalog's own: read them, do not keep them).
   */
  files(filter: { ip?: string; date?: string }): readonly Readonly<Entry>[] {
    this.sorted ??= [...this.names.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { ip, date } = filter;
    if (!ip && !date) return this.sorted.slice();
    return this.sorted.filter((entry) => (!ip || entry.ip === ip) && (!date || entry.date === date));
  }

  hosts(): HostSummary[] {
    return [...this.summaries.values()].sort((a, b) => a.ip.localeCompare(b.ip));
  }
}
