// The embedded default store: day files `<ip>_<YYYY-MM-DD>.json` in one directory, made durable through one
// write-ahead journal with group commit.
//
// One writer loop takes every queued upload and, per batch: journals each new report with the offset its
// day-file append will have, issues one fdatasync of the journal for the whole batch, and only then appends
// to the day files (in place) and acknowledges. So an unsynced day-file write always has a durable journal
// record, whatever order the disk persists writes in. An append that fails after that fsync gets 503 and a
// cancel record in the journal, so recovery does not bring the refused report back (if that cancel itself is
// lost to a power cut, the report reappears: at least once, never lost). Day files are synced at checkpoints,
// which start a new journal segment and delete the old ones once the day files are durable.
// On open, each journaled day file is cut back to where the journal begins for it and the journal replayed.
import { join } from "node:path";
import { errorCode, errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import { type DayZone, dayOf } from "../day.ts";
import { ipFromFileName, ipToFileName } from "../ip.ts";
import {
  afterAppend,
  appendElement,
  closeDayFile,
  type DayFile,
  EMPTY_DAY,
  elementLines,
  joinElements,
  nextOffset,
  openDayFile,
  readAll,
  readLastElement,
} from "./day-file.ts";
import { nodeStoreFs, type StoreFs } from "./fs.ts";
import {
  appendRecord,
  encodeCancel,
  encodeRecord,
  type JournalRecord,
  listSegments,
  openSegment,
  readSegment,
  recyclePath,
  retireSegment,
  type Segment,
  segmentPath,
} from "./journal.ts";
import { acquireLock } from "./lock.ts";
import { summarize } from "./summary.ts";
import {
  type DayFilter,
  type FileInfo,
  type HostSummary,
  type PreparedReport,
  type Store,
  type Stored,
  type StoreHealth,
  StoreUnavailableError,
} from "./types.ts";

export type FsyncMode = "always" | "never";

export interface FileStoreOptions {
  dir: string;
  fsync?: FsyncMode;
  clock?: () => Date;
  dayZone?: DayZone;
  fs?: StoreFs;
  /** Start a new journal segment past this size (default 64 MiB). */
  checkpointBytes?: number;
  /** ...or when this long has passed since the last checkpoint (default 60 s). */
  checkpointMs?: number;
  /** Day files kept open for appending at once; colder ones are reopened on demand. */
  maxOpenFiles?: number;
}

const DAY_FILE = /^(.+)_(\d{4}-\d{2}-\d{2})\.json$/;
const JOURNAL_DIR = ".journal";
const storeLog = logger("store");
const encoder = new TextEncoder();

interface Pending {
  report: PreparedReport;
  ip: string;
  resolve: (stored: Stored) => void;
  reject: (error: unknown) => void;
}

/** An upload of the batch being written, once journaled (or found to be a duplicate). */
interface Planned {
  item: Pending;
  stored: Stored;
  /** The day file and the element to append; absent for a duplicate. */
  file?: DayFile;
  bytes?: Uint8Array;
  receivedAt: string;
  /** For a repeat of an id journaled earlier in the same batch: that upload, whose fate it shares. */
  original?: Planned;
  /** Why its day-file append failed. */
  error?: unknown;
}

export function dayFileName(ip: string, date: string): string {
  return `${ipToFileName(ip)}_${date}.json`;
}

export function parseDayFileName(name: string): { ip: string; date: string } | null {
  const match = DAY_FILE.exec(name);
  const ip = match?.[1] ? ipFromFileName(match[1]) : null;
  return ip && match?.[2] ? { ip, date: match[2] } : null;
}

/** Unavailable-store errors for the codes that mean "the disk, not the client". */
function unavailable(error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const code = errorCode(error);
  const why =
    code === "ENOSPC" || code === "EDQUOT"
      ? "the disk is full"
      : code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? "the data directory is not writable"
        : `the store could not write (${errorMessage(error)})`;
  return new StoreUnavailableError(why, code);
}

export async function openFileStore(options: FileStoreOptions): Promise<FileStore> {
  const store = new FileStore(options);
  await store.open();
  return store;
}

export class FileStore implements Store {
  private readonly dir: string;
  private readonly journalDir: string;
  private readonly fs: StoreFs;
  private readonly fsync: FsyncMode;
  private readonly clock: () => Date;
  private readonly dayZone: DayZone;
  private readonly checkpointBytes: number;
  private readonly checkpointMs: number;
  private readonly maxOpenFiles: number;

  /** Today's (and recently written) day files, by name; fd is -1 for the ones closed to save handles. */
  private readonly days = new Map<string, DayFile>();
  private readonly openOrder = new Set<string>();
  private currentDay = "";
  /** Every day file on disk: name -> date, per ip the newest date. */
  private readonly newest = new Map<string, string>();
  private readonly fileNames = new Set<string>();
  private readonly reportCounts = new Map<string, { bytes: number; reports: number }>();
  private readonly summaries = new Map<string, HostSummary>();

  private segment: Segment | null = null;
  private oldSegments: Segment[] = [];
  private dirty = new Set<string>();
  private createdSinceCheckpoint = false;
  private lastCheckpoint = 0;
  private checkpointing: Promise<void> | null = null;

  private queue: Pending[] = [];
  /** The journal segments the batch being written has appended to (usually one). */
  private readonly batchSegments = new Set<Segment>();
  private writing: Promise<void> | null = null;
  /** Set when a journal fsync failed: the kernel may have dropped data, so nothing more is acknowledged. */
  private failed: StoreUnavailableError | null = null;
  /** Set while the directory cannot be written at all (read-only, no permission): retried on uploads. */
  private unwritable: StoreUnavailableError | null = null;
  private lastOpenAttempt = 0;
  private releaseLock: (() => void) | null = null;
  private closed = false;

  constructor(options: FileStoreOptions) {
    this.dir = options.dir;
    this.journalDir = join(options.dir, JOURNAL_DIR);
    this.fs = options.fs ?? nodeStoreFs;
    this.fsync = options.fsync ?? "always";
    this.clock = options.clock ?? (() => new Date());
    this.dayZone = options.dayZone ?? "utc";
    this.checkpointBytes = options.checkpointBytes ?? 64 * 1024 * 1024;
    this.checkpointMs = options.checkpointMs ?? 60_000;
    this.maxOpenFiles = options.maxOpenFiles ?? 512;
  }

  /** Takes the lock, recovers from the journal, repairs torn tails and rebuilds the host summaries. */
  async open(): Promise<void> {
    if (!this.fs.exists(this.dir)) this.fs.mkdir(this.dir);
    try {
      await this.openForWriting();
    } catch (error) {
      const code = errorCode(error);
      if (code !== "EACCES" && code !== "EPERM" && code !== "EROFS" && code !== "ENOSPC") throw error;
      // Serve what is there; uploads get 503 until the directory can be written.
      this.unwritable = unavailable(error);
      this.lastOpenAttempt = Date.now();
      storeLog.warn(`${this.dir}: ${this.unwritable.message}; serving reads only`);
    }
    await this.scanFiles();
  }

  private async openForWriting(): Promise<void> {
    this.fs.probeWritable(this.dir);
    if (!this.releaseLock) this.releaseLock = acquireLock(this.dir);
    if (!this.fs.exists(this.journalDir)) {
      this.fs.mkdir(this.journalDir);
      // A new directory's name is durable only once its parent is synced: without this, a power cut before
      // the first checkpoint could take the whole journal, and every report acknowledged through it, along.
      if (this.fsync === "always") await this.fs.syncDir(this.dir);
    }
    await this.recover();
    this.unwritable = null;
  }

  // ---- recovery -------------------------------------------------------------------------------------------

  private async recover(): Promise<void> {
    const seqs = listSegments(this.fs, this.journalDir);
    const byFile = new Map<string, JournalRecord[]>();
    const cancelled = new Set<JournalRecord>();
    for (const seq of seqs) {
      const fd = this.fs.openRead(segmentPath(this.journalDir, seq));
      try {
        for (const record of readSegment(readAll(this.fs, fd), seq)) {
          if (!parseDayFileName(record.file)) continue;
          const list = byFile.get(record.file) ?? [];
          if (record.cancel) {
            // Void the latest record of that id: a retry after the 503 is journaled after the cancel.
            const target = list.findLast((r) => r.id === record.id && !cancelled.has(r));
            if (target) cancelled.add(target);
            continue;
          }
          list.push(record);
          byFile.set(record.file, list);
        }
      } finally {
        this.fs.close(fd);
      }
    }
    let replayed = 0;
    for (const [name, records] of byFile) {
      const first = records[0];
      if (!first) continue;
      // Everything before the first journaled offset was synced at a checkpoint; the rest is rebuilt. The
      // first record counts even if cancelled: records after a failed append in its batch assumed it took
      // place, so only the first one's offset is where the file really stood.
      const { file } = await openDayFile(this.fs, join(this.dir, name), first.offset);
      try {
        for (const record of records) {
          if (cancelled.has(record) || file.ids.has(record.id)) continue;
          appendElement(this.fs, file, record.id, encoder.encode(record.element));
          replayed++;
        }
        if (this.fsync === "always") await this.fs.sync(file.fd);
      } finally {
        closeDayFile(this.fs, file);
      }
    }
    if (byFile.size && this.fsync === "always") await this.fs.syncDir(this.dir);
    if (replayed)
      storeLog.info(`replayed ${replayed} report(s) from the journal into ${byFile.size} day file(s)`);
    const next = (seqs.at(-1) ?? 0) + 1;
    this.segment = openSegment(this.fs, this.journalDir, next);
    if (this.fsync === "always") await this.fs.syncDir(this.journalDir);
    for (const seq of seqs) await this.fs.unlink(segmentPath(this.journalDir, seq));
    // Segment numbers restart once the journal is empty, so a file from an earlier run is never reused.
    if (this.fs.exists(recyclePath(this.journalDir))) await this.fs.unlink(recyclePath(this.journalDir));
    this.lastCheckpoint = Date.now();
  }

  /** Lists day files, repairs any torn tail left outside the journal, and rebuilds the host summaries. */
  private async scanFiles(): Promise<void> {
    let names: string[] = [];
    try {
      names = this.fs.readdir(this.dir);
    } catch (error) {
      storeLog.warn(`cannot list ${this.dir}: ${errorMessage(error)}`);
    }
    for (const name of names) {
      const parsed = parseDayFileName(name);
      if (!parsed) continue;
      if (!this.unwritable && !this.tailIsClosed(name)) await this.repair(name);
      this.fileNames.add(name);
      const newest = this.newest.get(parsed.ip);
      if (!newest || parsed.date > newest) this.newest.set(parsed.ip, parsed.date);
    }
    for (const [ip, date] of this.newest) {
      const name = dayFileName(ip, date);
      let element = this.readLast(name);
      if (element === undefined && !this.unwritable) {
        await this.repair(name);
        element = this.readLast(name);
      }
      if (element) this.summaries.set(ip, summarize(element, ip));
    }
  }

  /** A cheap look at the last bytes: a closed array ends with "\n]\n" (or is "[\n]\n"). */
  private tailIsClosed(name: string): boolean {
    let fd = -1;
    try {
      fd = this.fs.openRead(join(this.dir, name));
      const size = this.fs.size(fd);
      const tail = new Uint8Array(Math.min(size, 4));
      this.fs.read(fd, tail, size - tail.length);
      const text = new TextDecoder().decode(tail);
      return text === EMPTY_DAY || (size > EMPTY_DAY.length && text === "}\n]\n");
    } catch {
      return false;
    } finally {
      if (fd !== -1) this.fs.close(fd);
    }
  }

  private async repair(name: string): Promise<void> {
    try {
      const { file, repair } = await openDayFile(this.fs, join(this.dir, name));
      closeDayFile(this.fs, file);
      storeLog.warn(
        `${name}: repaired (${repair.linesDropped} broken line(s) dropped, ${repair.bytesCut} bytes cut)`,
      );
    } catch (error) {
      storeLog.error(`${name}: could not be repaired: ${errorMessage(error)}`);
    }
  }

  /** The newest element of a file; null when it is empty, undefined when its tail does not parse. */
  private readLast(name: string): unknown {
    let fd = -1;
    try {
      fd = this.fs.openRead(join(this.dir, name));
      return readLastElement(this.fs, fd);
    } catch {
      return undefined;
    } finally {
      if (fd !== -1) this.fs.close(fd);
    }
  }

  // ---- writing --------------------------------------------------------------------------------------------

  append(report: PreparedReport, sourceIp: string): Promise<Stored> {
    if (this.closed) return Promise.reject(new StoreUnavailableError("the server is shutting down"));
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<Stored>((resolve, reject) => {
      this.queue.push({ report, ip: sourceIp, resolve, reject });
      this.kick();
    });
  }

  /** Starts the writer loop unless it runs; restarts it for uploads queued while it was finishing. */
  private kick(): void {
    if (this.writing) return;
    this.writing = this.drain().finally(() => {
      this.writing = null;
      if (this.queue.length) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue;
      this.queue = [];
      if (this.unwritable) await this.retryOpen();
      this.batchSegments.clear();
      const planned = await this.journal(batch);
      // Every segment the batch wrote is synced (one, as its records are written without yielding).
      if (this.fsync === "always" && this.batchSegments.size) {
        try {
          for (const segment of this.batchSegments) await this.fs.sync(segment.fd);
        } catch (error) {
          // The day files stay untouched: their records may be lost, and nothing was acknowledged.
          this.failClosed(error);
          for (const { item } of planned) item.reject(this.failed);
          continue;
        }
      }
      await this.apply(planned);
      this.maybeCheckpoint();
    }
  }

  /** At most once a second; while the directory stays unwritable, writeOne refuses each upload with 503. */
  private async retryOpen(): Promise<void> {
    // Never throw from here: drain() would reject with the batch unsettled (requests left hanging).
    if (Date.now() - this.lastOpenAttempt < 1000) return;
    this.lastOpenAttempt = Date.now();
    try {
      await this.openForWriting();
      storeLog.info(`${this.dir} is writable again`);
    } catch (error) {
      this.unwritable = unavailable(error);
    }
  }

  private failClosed(error: unknown): void {
    this.failed = new StoreUnavailableError(
      `a journal fsync failed (${errorMessage(error)}); the store refuses writes until the server restarts and recovers`,
      errorCode(error),
    );
    storeLog.error(this.failed.message);
  }

  /**
   * Opens the batch's day files, then journals each new report with the offset its append will have. The
   * day files are written only once these records are synced (see apply).
   */
  private async journal(batch: Pending[]): Promise<Planned[]> {
    // One clock reading per batch: all its uploads go to the same day, so no day file of the batch is
    // forgotten at midnight between its journal record and its append.
    const now = this.clock();
    const date = dayOf(now, this.dayZone);
    const receivedAt = now.toISOString();
    const opened: Array<[Pending, DayFile, string]> = [];
    for (const item of batch) {
      try {
        if (this.failed) throw this.failed;
        if (this.unwritable) throw this.unwritable;
        const name = dayFileName(item.ip, date);
        opened.push([item, await this.dayFile(name, date), name]);
      } catch (error) {
        item.reject(unavailable(error));
      }
    }
    // Nothing yields from here on: every record lands in the segment that is current now, and each file is
    // marked dirty with it, so the checkpoint that retires this segment syncs these day files.
    const segment = this.segment;
    const planned: Planned[] = [];
    // Per day file, its size and count once the batch's earlier appends are done, and the ids they add.
    const reserved = new Map<DayFile, { size: number; count: number; ids: Map<string, Planned> }>();
    for (const [item, file, name] of opened) {
      const id = item.report.id;
      const stored: Stored = { ip: item.ip, date, file: name, duplicate: false };
      let next = reserved.get(file);
      if (!next) {
        next = { size: file.size, count: file.count, ids: new Map() };
        reserved.set(file, next);
      }
      const original = next.ids.get(id);
      if (original || file.ids.has(id)) {
        planned.push({ item, stored: { ...stored, duplicate: true }, receivedAt, original });
        continue;
      }
      // report_id first, so the store can read ids back from each line's start without parsing the report.
      const head = `{"report_id":${JSON.stringify(id)},"received_at":"${receivedAt}","source_ip":"${item.ip}"`;
      const rest = item.report.json;
      const bytes = encoder.encode(rest.length > 2 ? `${head},${rest.slice(1)}` : `${head}}`);
      try {
        if (!segment) throw new StoreUnavailableError("the store is not open for writing");
        // Without fsync the journal protects nothing: a process crash keeps every completed write (the
        // page cache survives it), and a power cut may take the journal as well as the day file.
        if (this.fsync === "always") {
          appendRecord(
            this.fs,
            segment,
            encodeRecord(segment.seq, { file: name, offset: nextOffset(next), id }, bytes),
          );
        }
      } catch (error) {
        item.reject(unavailable(error));
        continue;
      }
      const entry: Planned = { item, stored, file, bytes, receivedAt };
      next.ids.set(id, entry);
      Object.assign(next, afterAppend(next, bytes.length));
      this.dirty.add(name);
      this.batchSegments.add(segment);
      planned.push(entry);
    }
    return planned;
  }

  /** Appends the journaled reports to their day files and answers every upload of the batch. */
  private async apply(planned: Planned[]): Promise<void> {
    const failed: Planned[] = [];
    for (const entry of planned) {
      const { item, file, bytes } = entry;
      if (!file || !bytes) {
        // A duplicate: of a stored report, or of one earlier in the batch, whose fate it shares.
        const error = entry.original?.error;
        if (error) item.reject(unavailable(error));
        else item.resolve(entry.stored);
        continue;
      }
      try {
        this.appendTo(file, item.report.id, bytes);
      } catch (error) {
        // appendElement cut the partial element back; later appends of the batch start where it began.
        entry.error = error;
        failed.push(entry);
        continue;
      }
      this.reportCounts.set(entry.stored.file, { bytes: file.size, reports: file.count });
      this.summaries.set(item.ip, {
        ...item.report.summary,
        ip: item.ip,
        last_seen: entry.receivedAt,
        last_report_id: item.report.id,
      });
      const newest = this.newest.get(item.ip);
      if (!newest || entry.stored.date > newest) this.newest.set(item.ip, entry.stored.date);
      item.resolve(entry.stored);
    }
    if (failed.length) await this.cancel(failed);
  }

  /** Appends to a day file, reopening it for the moment if it was closed to save handles meanwhile. */
  private appendTo(file: DayFile, id: string, bytes: Uint8Array): void {
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

  /**
   * Their records are synced, so without a cancel record a restart would replay reports refused with 503.
   * Best effort: if the cancel is lost (no space, failed fsync, power cut), the report comes back once.
   */
  private async cancel(failed: Planned[]): Promise<void> {
    const segment = this.segment;
    // With fsync never nothing was journaled, so there is nothing to take back.
    if (this.fsync === "always") {
      try {
        if (!segment) throw new StoreUnavailableError("the store is not open for writing");
        for (const { stored, item } of failed)
          appendRecord(this.fs, segment, encodeCancel(segment.seq, stored.file, item.report.id));
        await this.fs.sync(segment.fd);
      } catch (error) {
        storeLog.warn(
          `could not journal the cancel of ${failed.length} refused report(s) (${errorMessage(error)}); a restart may store them after all`,
        );
      }
    }
    for (const { item, error } of failed) item.reject(unavailable(error));
  }

  /** The open day file for `name`, opening (and repairing) it or reopening a closed handle. */
  private async dayFile(name: string, date: string): Promise<DayFile> {
    let file = this.days.get(name);
    if (file && file.fd === -1) file.fd = this.fs.open(file.path, false);
    if (!file) {
      if (date !== this.currentDay) this.forgetOtherDays(date);
      const opened = await openDayFile(this.fs, join(this.dir, name));
      file = opened.file;
      if (opened.repair.bytesCut || opened.repair.linesDropped) {
        storeLog.warn(
          `${name}: repaired a torn tail (${opened.repair.linesDropped} broken line(s), ${opened.repair.bytesCut} bytes cut)`,
        );
      }
      if (opened.created) this.createdSinceCheckpoint = true;
      this.days.set(name, file);
      this.fileNames.add(name);
    }
    this.openOrder.delete(name);
    this.openOrder.add(name);
    while (this.openOrder.size > this.maxOpenFiles) {
      const coldest = this.openOrder.values().next().value as string;
      this.openOrder.delete(coldest);
      const cold = this.days.get(coldest);
      if (cold && cold.fd !== -1) {
        this.fs.close(cold.fd);
        cold.fd = -1;
      }
    }
    return file;
  }

  /** Retries for past days go to today's file anyway, so their id sets are no longer needed. */
  private forgetOtherDays(today: string): void {
    this.currentDay = today;
    for (const [name, file] of this.days) {
      if (name.endsWith(`_${today}.json`)) continue;
      if (file.fd !== -1) this.fs.close(file.fd);
      this.days.delete(name);
      this.openOrder.delete(name);
    }
  }

  // ---- checkpoints ----------------------------------------------------------------------------------------

  private maybeCheckpoint(): void {
    if (this.checkpointing || !this.segment || this.failed) return;
    const big = this.segment.size >= this.checkpointBytes;
    const old = this.dirty.size > 0 && Date.now() - this.lastCheckpoint >= this.checkpointMs;
    if (!big && !old) return;
    this.checkpointing = this.checkpoint()
      .catch((error) => this.failClosed(error))
      .finally(() => {
        this.checkpointing = null;
      });
  }

  /** Starts a new segment, syncs every day file the old ones cover, then retires the old segments. */
  private async checkpoint(): Promise<void> {
    const current = this.segment;
    if (!current) return;
    const next = openSegment(this.fs, this.journalDir, current.seq + 1, true);
    if (this.fsync === "always") await this.fs.syncDir(this.journalDir);
    // Swap synchronously with taking the dirty set: every write before this line is in an old segment.
    this.segment = next;
    this.oldSegments.push(current);
    const dirty = this.dirty;
    const created = this.createdSinceCheckpoint;
    this.dirty = new Set();
    this.createdSinceCheckpoint = false;
    this.lastCheckpoint = Date.now();
    // The batch in flight may still be syncing the old segment.
    await this.writing?.catch(() => {});
    if (this.fsync === "always") {
      // A few at a time: thousands of queued fsyncs would hold up the journal's fsync behind them in the
      // thread pool, and with it every upload's acknowledgement.
      const names = [...dirty];
      const lane = async () => {
        for (let name = names.pop(); name !== undefined; name = names.pop())
          await this.syncPath(join(this.dir, name));
      };
      await Promise.all(Array.from({ length: 2 }, lane));
      if (created) await this.fs.syncDir(this.dir);
    }
    for (const old of this.oldSegments.splice(0)) await retireSegment(this.fs, this.journalDir, old);
  }

  private async syncPath(path: string): Promise<void> {
    const fd = this.fs.open(path, false);
    try {
      await this.fs.sync(fd);
    } finally {
      this.fs.close(fd);
    }
  }

  // ---- reading --------------------------------------------------------------------------------------------

  newestDate(ip: string): string | null {
    return this.newest.get(ip) ?? null;
  }

  async readDay(
    ip: string,
    date: string,
    filter: DayFilter = {},
  ): Promise<ReadableStream<Uint8Array> | string | null> {
    const name = dayFileName(ip, date);
    if (!this.fileNames.has(name)) return null;
    const path = join(this.dir, name);
    const unfiltered = filter.from === undefined && filter.to === undefined && filter.limit === undefined;
    if (unfiltered) return this.streamSnapshot(path);
    const fd = this.fs.openRead(path);
    let lines: string[];
    try {
      lines = elementLines(readAll(this.fs, fd));
    } finally {
      this.fs.close(fd);
    }
    const { from, to, limit } = filter;
    if (from !== undefined || to !== undefined) {
      lines = lines.filter((line) => {
        const at = receivedAt(line);
        return (from === undefined || at >= from) && (to === undefined || at <= to);
      });
    }
    if (limit !== undefined) lines = lines.slice(Math.max(0, lines.length - limit));
    return joinElements(lines);
  }

  /**
   * Streams the file as it is now. Bytes before the closing "\n]\n" never change, so a concurrent append
   * cannot tear what the reader gets: it is sent up to there and closed by hand.
   */
  private streamSnapshot(path: string): ReadableStream<Uint8Array> | string {
    const fd = this.fs.openRead(path);
    let size: number;
    try {
      size = this.fs.size(fd);
    } finally {
      this.fs.close(fd);
    }
    if (size <= EMPTY_DAY.length) return EMPTY_DAY;
    const body = Bun.file(path)
      .slice(0, size - 3)
      .stream();
    const closing = new TextEncoder().encode("\n]\n");
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        flush(controller) {
          controller.enqueue(closing);
        },
      }),
    );
  }

  async listFiles(filter: { ip?: string; date?: string } = {}): Promise<FileInfo[]> {
    const out: FileInfo[] = [];
    for (const name of [...this.fileNames].sort()) {
      const parsed = parseDayFileName(name);
      if (!parsed) continue;
      if (filter.ip && parsed.ip !== filter.ip) continue;
      if (filter.date && parsed.date !== filter.date) continue;
      const counted = this.countReports(name);
      if (counted) out.push({ name, ...parsed, ...counted });
    }
    return out;
  }

  /** Bytes and element count; one newline per element plus two, so counting needs no parsing. */
  private countReports(name: string): { bytes: number; reports: number } | null {
    let fd = -1;
    try {
      fd = this.fs.openRead(join(this.dir, name));
      const bytes = this.fs.size(fd);
      const cached = this.reportCounts.get(name);
      if (cached && cached.bytes === bytes) return cached;
      const data = readAll(this.fs, fd);
      let newlines = 0;
      for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) newlines++;
      const counted = { bytes, reports: Math.max(0, newlines - 2) };
      this.reportCounts.set(name, counted);
      return counted;
    } catch {
      return null;
    } finally {
      if (fd !== -1) this.fs.close(fd);
    }
  }

  hosts(): HostSummary[] {
    return [...this.summaries.values()].sort((a, b) => a.ip.localeCompare(b.ip));
  }

  health(): StoreHealth {
    const problem = this.failed ?? this.unwritable ?? this.probe();
    return {
      writable: !problem,
      files: this.fileNames.size,
      ...(problem ? { problem: problem.message } : {}),
    };
  }

  private probe(): StoreUnavailableError | null {
    try {
      this.fs.probeWritable(this.dir);
      return null;
    } catch (error) {
      return unavailable(error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing) await this.writing;
    await this.checkpointing;
    if (!this.failed && !this.unwritable && this.segment) {
      try {
        await this.checkpoint();
        // Everything is in the day files and synced: the last segment is empty of news.
        const last = this.segment;
        this.fs.close(last.fd);
        await this.fs.unlink(last.path);
        const recycle = recyclePath(this.journalDir);
        if (this.fs.exists(recycle)) await this.fs.unlink(recycle);
      } catch (error) {
        storeLog.error(
          `final checkpoint failed: ${errorMessage(error)}; the journal is replayed on next start`,
        );
      }
    }
    for (const file of this.days.values()) if (file.fd !== -1) this.fs.close(file.fd);
    this.days.clear();
    this.releaseLock?.();
    this.releaseLock = null;
  }
}

const RECEIVED_AT = /^\{"report_id":"[^"]*","received_at":"([^"]*)"/;

function receivedAt(line: string): string {
  return RECEIVED_AT.exec(line)?.[1] ?? "";
}
