// What the store knows about its files without reading them: every day file's name, its size and report
// count once known, the newest date per ip, and the latest summary per host.
import { parseDayFileName } from "./day-file.ts";
import type { FileInfo, HostSummary } from "./types.ts";

export interface Counted {
  bytes: number;
  reports: number;
}

export class Catalog {
  private readonly names = new Set<string>();
  private readonly counts = new Map<string, Counted>();
  private readonly newest = new Map<string, string>();
  private readonly summaries = new Map<string, HostSummary>();
  /** Lines set aside as damaged since start, for /health. */
  damagedLines = 0;

  noteDamaged(lines: number): void {
    this.damagedLines += lines;
  }

  /** Adds a day file (ignores names that are not one). */
  add(name: string): void {
    const parsed = parseDayFileName(name);
    if (!parsed) return;
    this.names.add(name);
    const newest = this.newest.get(parsed.ip);
    if (!newest || parsed.date > newest) this.newest.set(parsed.ip, parsed.date);
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

  counted(name: string): Counted | undefined {
    return this.counts.get(name);
  }

  setCount(name: string, counted: Counted): void {
    this.counts.set(name, counted);
  }

  setSummary(summary: HostSummary): void {
    this.summaries.set(summary.ip, summary);
  }

  /** The day files matching `filter`, sorted by name. */
  files(filter: { ip?: string; date?: string }): Array<Pick<FileInfo, "name" | "ip" | "date">> {
    const out: Array<Pick<FileInfo, "name" | "ip" | "date">> = [];
    for (const name of [...this.names].sort()) {
      const parsed = parseDayFileName(name);
      if (!parsed) continue;
      if (filter.ip && parsed.ip !== filter.ip) continue;
      if (filter.date && parsed.date !== filter.date) continue;
      out.push({ name, ...parsed });
    }
    return out;
  }

  hosts(): HostSummary[] {
    return [...this.summaries.values()].sort((a, b) => a.ip.localeCompare(b.ip));
  }
}
