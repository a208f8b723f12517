// The report store on PostgreSQL, behind the same interface as the file store: several servers share it.
// Writes go through a group commit (every upload queued while a statement runs joins the next one, a single
// statement that inserts the reports, counts them into their day rows and updates the host summaries, so one
// commit acknowledges them all). /query builds the same bytes the day file holds, from the stored elements.
import type { SQL } from "bun";
import { type DayZone, dayOf } from "../day.ts";
import { dayFileName, EMPTY_DAY, elementLine } from "../store/day-file.ts";
import {
  type DayFilter,
  type FileInfo,
  type HostSummary,
  type PreparedReport,
  type Store,
  type Stored,
  type StoreHealth,
  StoreUnavailableError,
} from "../store/types.ts";
import { RETRY_WINDOW_MS } from "../store/writer.ts";
import { asUnavailable, isUnavailable, sqlState } from "./errors.ts";
import { insertElements } from "./insert.ts";
import { Partitions } from "./partitions.ts";

interface Pending {
  report: PreparedReport;
  ip: string;
  resolve: (stored: Stored) => void;
  reject: (error: unknown) => void;
}

export interface PgStoreOptions {
  clock?: () => Date;
  dayZone?: DayZone;
  /** Group statements running at once (default 2): the next group gathers while one commits. */
  maxInFlight?: number;
  /** Elements read per round trip while a day streams (default 256). */
  pageRows?: number;
}

const encoder = new TextEncoder();

export class PgReportStore implements Store {
  readonly #clock: () => Date;
  readonly #dayZone: DayZone;
  readonly #partitions: Partitions;
  readonly #maxInFlight: number;
  readonly #pageRows: number;
  #queue: Pending[] = [];
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #closed = false;
  #problem: string | null = null;
  #ahead: Timer | undefined;
  /** Groups committed and reports they carried, for the benchmark. */
  commits = 0;
  writes = 0;

  constructor(
    private readonly sql: SQL,
    options: PgStoreOptions = {},
  ) {
    this.#clock = options.clock ?? (() => new Date());
    this.#dayZone = options.dayZone ?? "utc";
    this.#maxInFlight = options.maxInFlight ?? 2;
    this.#pageRows = options.pageRows ?? 256;
    this.#partitions = new Partitions(sql);
  }

  get partitions(): Partitions {
    return this.#partitions;
  }

  /** Creates the partitions around today, and again every hour. */
  async open(): Promise<void> {
    await this.#partitions.ensureAround(dayOf(this.#clock(), this.#dayZone));
    this.#ahead = setInterval(() => {
      this.#partitions.ensureAround(dayOf(this.#clock(), this.#dayZone)).catch(() => {
        // The next hour, or the first upload of a day, tries again.
      });
    }, 3_600_000);
    this.#ahead.unref();
  }

  append(report: PreparedReport, sourceIp: string): Promise<Stored> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError("the server is shutting down"));
    return new Promise<Stored>((resolve, reject) => {
      this.#queue.push({ report, ip: sourceIp, resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    while (this.#queue.length && this.#inFlight < this.#maxInFlight) {
      const group = this.#queue;
      this.#queue = [];
      this.#inFlight++;
      void this.#write(group).finally(() => {
        this.#inFlight--;
        if (this.#queue.length) this.#kick();
        else if (this.#inFlight === 0) for (const done of this.#idle.splice(0)) done();
      });
    }
  }

  /** One group: duplicates answered, the rest inserted by one statement; every upload settled. */
  async #write(group: Pending[]): Promise<void> {
    const now = this.#clock();
    const date = dayOf(now, this.#dayZone);
    const receivedAt = now.toISOString();
    const yesterday = dayOf(new Date(now.getTime() - RETRY_WINDOW_MS), this.#dayZone);
    // The first of two uploads of one id in a group is stored; the second shares its fate as a duplicate.
    const first = new Map<string, Pending>();
    const repeats: Array<[Pending, Pending]> = [];
    for (const item of group) {
      const key = `${item.ip} ${item.report.id.toLowerCase()}`;
      const earlier = first.get(key);
      if (earlier) repeats.push([item, earlier]);
      else first.set(key, item);
    }
    const items = [...first.values()];
    let inserted: Set<string>;
    let earlierDay: Set<string>;
    try {
      await this.#partitions.ensure(date);
      earlierDay = yesterday === date ? new Set() : await this.#storedOn(yesterday, items);
      const fresh = items.filter((item) => !earlierDay.has(`${item.ip} ${item.report.id.toLowerCase()}`));
      const rows = fresh.map((item) => ({
        day: date,
        ip: item.ip,
        reportId: item.report.id,
        receivedAt,
        element: elementLine(item.report.id, receivedAt, item.ip, item.report.json),
        summary: {
          ...item.report.summary,
          ip: item.ip,
          last_seen: receivedAt,
          last_report_id: item.report.id,
        },
      }));
      try {
        inserted = await insertElements(this.sql, rows);
      } catch (error) {
        // The day's partition went (dropped through another server) after this one noted it: make it again.
        if (sqlState(error) !== "23514") throw error;
        this.#partitions.forget(date);
        await this.#partitions.ensure(date);
        inserted = await insertElements(this.sql, rows);
      }
      this.#problem = null;
    } catch (error) {
      const failure = asUnavailable(error, "PostgreSQL");
      if (isUnavailable(error)) this.#problem = (failure as Error).message;
      for (const item of group) item.reject(failure);
      return;
    }
    this.commits++;
    this.writes += inserted.size;
    const outcome = new Map<Pending, Stored>();
    for (const item of items) {
      const key = `${item.ip} ${item.report.id.toLowerCase()}`;
      const day = earlierDay.has(key) ? yesterday : date;
      const stored = {
        ip: item.ip,
        date: day,
        file: dayFileName(item.ip, day),
        duplicate: !inserted.has(key),
      };
      outcome.set(item, stored);
      item.resolve(stored);
    }
    for (const [item, earlier] of repeats) {
      const stored = outcome.get(earlier) as Stored;
      item.resolve({ ...stored, duplicate: true });
    }
  }

  /** Which of these reports are stored already on `day` (a retry across midnight). */
  async #storedOn(day: string, items: Pending[]): Promise<Set<string>> {
    const ids = items.map((item) => item.report.id.toLowerCase());
    const rows = await this.sql`SELECT source_ip, report_id FROM reports
      WHERE day = ${day}::date AND report_id IN ${this.sql(ids)}`;
    const wanted = new Set(items.map((item) => `${item.ip} ${item.report.id.toLowerCase()}`));
    const found = new Set<string>();
    for (const row of rows as Array<{ source_ip: string; report_id: string }>) {
      const key = `${row.source_ip} ${row.report_id}`;
      if (wanted.has(key)) found.add(key);
    }
    return found;
  }

  async newestDate(ip: string): Promise<string | null> {
    const [row] = await this.#read(
      () => this.sql`SELECT max(day)::text AS day FROM report_days WHERE source_ip = ${ip}`,
    );
    return (row?.day as string | null) ?? null;
  }

  async readDay(
    ip: string,
    date: string,
    filter: DayFilter = {},
  ): Promise<ReadableStream<Uint8Array> | string | null> {
    const [day] = await this.#read(
      () => this.sql`SELECT reports FROM report_days WHERE source_ip = ${ip} AND day = ${date}::date`,
    );
    if (!day) return null;
    const from = filter.from ?? "";
    // Every ISO time sorts below "~": no upper bound unless asked.
    const to = filter.to ?? "~";
    // The newest `limit` matches start at this seq; without a limit, at the first.
    let lowest = "0";
    if (filter.limit !== undefined) {
      const [row] = await this.#read(
        () => this.sql`SELECT min(seq)::text AS seq FROM (SELECT seq FROM reports
          WHERE day = ${date}::date AND source_ip = ${ip} AND received_at >= ${from} AND received_at <= ${to}
          ORDER BY seq DESC LIMIT ${filter.limit}) AS newest`,
      );
      if (!row?.seq) return EMPTY_DAY;
      lowest = row.seq as string;
    }
    const [top] = await this.#read(
      () =>
        this
          .sql`SELECT coalesce(max(seq), 0)::text AS seq FROM reports WHERE day = ${date}::date AND source_ip = ${ip}`,
    );
    const highest = (top?.seq as string) ?? "0";
    const page = (after: string) =>
      this.#read(
        () => this.sql`SELECT seq::text AS seq, element FROM reports
          WHERE day = ${date}::date AND source_ip = ${ip} AND seq >= ${lowest}::bigint AND seq > ${after}::bigint
            AND seq <= ${highest}::bigint AND received_at >= ${from} AND received_at <= ${to}
          ORDER BY reports.seq LIMIT ${this.#pageRows}`,
      ) as Promise<Array<{ seq: string; element: string }>>;
    const firstPage = await page("-1");
    if (firstPage.length < this.#pageRows) {
      return firstPage.length ? `[\n${firstPage.map((row) => row.element).join(",\n")}\n]\n` : EMPTY_DAY;
    }
    return this.#stream(firstPage, page);
  }

  /** A big day a page at a time, as the client takes it: memory is one page, never the day. */
  #stream(
    firstPage: Array<{ seq: string; element: string }>,
    page: (after: string) => Promise<Array<{ seq: string; element: string }>>,
  ): ReadableStream<Uint8Array> {
    let rows: Array<{ seq: string; element: string }> | null = firstPage;
    let started = false;
    const pageRows = this.#pageRows;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (rows === null) {
          controller.enqueue(encoder.encode("\n]\n"));
          controller.close();
          return;
        }
        const text = rows.map((row) => row.element).join(",\n");
        controller.enqueue(encoder.encode(`${started ? ",\n" : "[\n"}${text}`));
        started = true;
        const last = rows.at(-1);
        rows = rows.length < pageRows || !last ? null : await page(last.seq);
        if (rows?.length === 0) rows = null;
      },
    });
  }

  async listFiles(filter: { ip?: string; date?: string } = {}): Promise<FileInfo[]> {
    const rows = (await this.#read(
      () => this
        .sql`SELECT source_ip, day::text AS day, reports::text AS reports, element_bytes::text AS bytes
        FROM report_days
        WHERE (${filter.ip ?? null}::text IS NULL OR source_ip = ${filter.ip ?? null})
          AND (${filter.date ?? null}::date IS NULL OR day = ${filter.date ?? null}::date)`,
    )) as Array<{ source_ip: string; day: string; reports: string; bytes: string }>;
    const files = rows.map((row) => {
      const reports = Number(row.reports);
      // The day file's size: "[\n", the elements with ",\n" between them, "\n]\n" (or "[\n]\n" when empty).
      const bytes = reports ? Number(row.bytes) + 2 * reports + 3 : EMPTY_DAY.length;
      return {
        name: dayFileName(row.source_ip, row.day),
        ip: row.source_ip,
        date: row.day,
        location: "local" as const,
        bytes,
        reports,
      };
    });
    return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async hosts(): Promise<HostSummary[]> {
    const rows = await this.#read(() => this.sql`SELECT summary FROM hosts`);
    return (rows as Array<{ summary: string }>)
      .map((row) => JSON.parse(row.summary) as HostSummary)
      .sort((a, b) => a.ip.localeCompare(b.ip));
  }

  async health(): Promise<StoreHealth> {
    try {
      const [row] = await this.sql`SELECT count(*)::int AS files FROM report_days`;
      const problem = this.#problem;
      return {
        writable: !problem,
        files: Number(row?.files ?? 0),
        damaged_lines: 0,
        ...(problem ? { problem } : {}),
      };
    } catch (error) {
      const failure = asUnavailable(error, "PostgreSQL");
      return { writable: false, files: 0, damaged_lines: 0, problem: (failure as Error).message };
    }
  }

  /** Resolves once no group is being written. */
  settle(): Promise<void> {
    if (this.#inFlight === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((done) => this.#idle.push(done));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ahead);
    await this.settle();
  }

  /** A read: a database failure answers 503, like a write's. */
  async #read<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (error) {
      throw asUnavailable(error, "PostgreSQL");
    }
  }
}
