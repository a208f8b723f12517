// The store as the HTTP layer sees it once days are archived: a day no longer in the data directory is
// listed from the manifest (`location: "archive"`) and read back from the bucket, streamed and gunzipped,
// with the same bytes (or the same filtered answer) as before it left.
import { EMPTY_DAY } from "../store/day-file.ts";
import type { DayFilter, FileInfo, HostSummary, Store, Stored, StoreHealth } from "../store/types.ts";
import { StoreUnavailableError } from "../store/types.ts";
import type { Bucket } from "./bucket.ts";
import { openObject } from "./fetch-object.ts";
import type { ArchivedRow } from "./manifest.ts";

/** What the view reads of a manifest: relevo.db's (synchronous) or PostgreSQL's. */
export interface ArchiveIndex {
  list(state: "archived", filter: { ip?: string; date?: string }): ArchivedRow[] | Promise<ArchivedRow[]>;
  newestArchivedDate(ip: string): string | null | Promise<string | null>;
}

const RECEIVED_AT = /^\{"report_id":"[^"]*","received_at":"([^"]*)"/;

export class ArchivedView implements Store {
  constructor(
    private readonly local: Store,
    private readonly manifest: ArchiveIndex,
    private readonly bucket: Bucket,
  ) {}

  append(report: Parameters<Store["append"]>[0], sourceIp: string): Promise<Stored> {
    return this.local.append(report, sourceIp);
  }

  async newestDate(ip: string): Promise<string | null> {
    const local = await this.local.newestDate(ip);
    const archived = await this.manifest.newestArchivedDate(ip);
    if (!archived) return local;
    return !local || archived > local ? archived : local;
  }

  async readDay(
    ip: string,
    date: string,
    filter: DayFilter = {},
  ): Promise<ReadableStream<Uint8Array> | string | null> {
    const local = await this.local.readDay(ip, date, filter);
    if (local !== null) return local;
    const row = (await this.manifest.list("archived", { ip, date }))[0];
    if (!row?.object_key) return null;
    let body: ReadableStream<Uint8Array>;
    try {
      body = await openObject(this.bucket, row.object_key);
    } catch (error) {
      throw new StoreUnavailableError(
        `${row.name} is archived and cannot be read back now: ${(error as Error).message}`,
      );
    }
    const unfiltered = filter.from === undefined && filter.to === undefined && filter.limit === undefined;
    return unfiltered ? body : await filterDay(body, filter);
  }

  async listFiles(filter: { ip?: string; date?: string } = {}): Promise<FileInfo[]> {
    const local = await this.local.listFiles(filter);
    const here = new Set(local.map((file) => file.name));
    const archived: FileInfo[] = (await this.manifest.list("archived", filter))
      .filter((row) => !here.has(row.name))
      .map((row) => ({
        name: row.name,
        ip: row.ip,
        date: row.date,
        bytes: row.bytes ?? 0,
        reports: row.reports ?? 0,
        location: "archive",
      }));
    if (!archived.length) return local;
    return [...local, ...archived].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  hosts(): Promise<HostSummary[]> {
    return this.local.hosts();
  }

  health(): Promise<StoreHealth> {
    return this.local.health();
  }

  close(): Promise<void> {
    return this.local.close();
  }
}

/** The filtered answer from a streamed day: element lines one at a time, only the matches kept. */
async function filterDay(body: ReadableStream<Uint8Array>, { from, to, limit }: DayFilter): Promise<string> {
  const kept: string[] = [];
  let rest = "";
  const take = (line: string) => {
    if (!line.startsWith('{"')) return;
    const element = line.endsWith(",") ? line.slice(0, -1) : line;
    if (from !== undefined || to !== undefined) {
      const at = RECEIVED_AT.exec(element)?.[1] ?? "";
      if ((from !== undefined && at < from) || (to !== undefined && at > to)) return;
    }
    kept.push(element);
    if (limit !== undefined && kept.length > 2 * limit) kept.splice(0, kept.length - limit);
  };
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    rest += decoder.decode(chunk, { stream: true });
    let at = rest.indexOf("\n");
    let start = 0;
    while (at !== -1) {
      take(rest.slice(start, at));
      start = at + 1;
      at = rest.indexOf("\n", start);
    }
    rest = rest.slice(start);
  }
  take(rest);
  const answer = limit === undefined ? kept : kept.slice(-limit);
  return answer.length ? `[\n${answer.join(",\n")}\n]\n` : EMPTY_DAY;
}
