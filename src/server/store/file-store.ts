// The embedded default store: day files `<ip>_<YYYY-MM-DD>.json` in one directory, made durable through one
// write-ahead journal with group commit. This facade opens, ties together and closes the parts: writer.ts
// (the batch loop), journal-writer.ts (segments, checkpoints), open-files.ts (handles and their LRU),
// recovery.ts (replay, start-up scan), catalog.ts (what is known in memory), read.ts, write-state.ts.
import { join } from "node:path";
import { errorCode, errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import { type DayZone, dayOf } from "../day.ts";
import { Catalog } from "./catalog.ts";
import { dayFileName } from "./day-file.ts";
import { nodeStoreFs, type StoreFs } from "./fs.ts";
import { type JournalObserver, JournalWriter } from "./journal-writer.ts";
import { acquireLock } from "./lock.ts";
import { OpenDayFiles } from "./open-files.ts";
import { listFiles, readDay } from "./read.ts";
import { replayJournal, scanDayFiles, validateDays } from "./recovery.ts";
import {
  type DayFilter,
  type FileInfo,
  type HostSummary,
  type PreparedReport,
  type Store,
  type Stored,
  type StoreHealth,
  StoreUnavailableError,
  unavailable,
} from "./types.ts";
import { WriteState } from "./write-state.ts";
import { Writer } from "./writer.ts";

export type FsyncMode = "always" | "never";

interface FileStoreOptions {
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
  /** Hears every journal fsync (for /metrics). */
  observer?: JournalObserver;
}

const JOURNAL_DIR = ".journal";
const storeLog = logger("store");

export async function openFileStore(options: FileStoreOptions): Promise<FileStore> {
  const store = new FileStore(options);
  await store.open();
  return store;
}

export class FileStore implements Store {
  private readonly dir: string;
  private readonly journalDir: string;
  private readonly fs: StoreFs;
  private readonly durable: boolean;
  private readonly clock: () => Date;
  private readonly catalog = new Catalog();
  private readonly files: OpenDayFiles;
  private readonly journal: JournalWriter;
  private readonly writer: Writer;
  private readonly state: WriteState;
  private releaseLock: (() => void) | null = null;
  private closed = false;
  private readonly dayZone: DayZone;
  /** The background validation of past days' files started at open. */
  private validating: Promise<void> = Promise.resolve();

  constructor(options: FileStoreOptions) {
    this.dir = options.dir;
    this.journalDir = join(options.dir, JOURNAL_DIR);
    this.fs = options.fs ?? nodeStoreFs;
    this.durable = (options.fsync ?? "always") === "always";
    this.clock = options.clock ?? (() => new Date());
    this.dayZone = options.dayZone ?? "utc";
    this.state = new WriteState(this.clock);
    this.files = new OpenDayFiles(this.fs, this.dir, options.maxOpenFiles ?? 512, this.catalog, this.clock);
    this.journal = new JournalWriter({
      fs: this.fs,
      dir: this.dir,
      journalDir: this.journalDir,
      durable: this.durable,
      clock: this.clock,
      checkpointBytes: options.checkpointBytes ?? 64 * 1024 * 1024,
      checkpointMs: options.checkpointMs ?? 60_000,
      observer: options.observer,
    });
    this.writer = new Writer({
      clock: this.clock,
      dayZone: this.dayZone,
      files: this.files,
      journal: this.journal,
      catalog: this.catalog,
      gate: {
        refusal: () => this.state.refusal(),
        retry: () => this.retryOpen(),
        failClosed: (error) => this.state.failClosed(error),
        wrote: (error) => this.state.wrote(error),
      },
    });
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
      this.state.markUnwritable(error);
      storeLog.warn(`${this.dir}: ${unavailable(error).message}; serving reads only`);
    }
    const writable = !this.state.unwritable;
    await scanDayFiles(this.fs, this.dir, this.catalog, writable, this.clock);
    // Today's files are validated when first opened for appending; past days' in the background.
    if (writable) {
      const today = dayOf(this.clock(), this.dayZone);
      const past = this.catalog.files({}).filter((file) => file.date < today);
      const names = past.map((file) => file.name);
      const stop = () => this.closed;
      this.validating = validateDays(this.fs, this.dir, names, this.catalog, this.clock, stop);
    }
  }

  private async openForWriting(): Promise<void> {
    this.fs.probeWritable(this.dir);
    this.restrict(this.dir);
    if (!this.releaseLock) this.releaseLock = acquireLock(this.dir);
    if (!this.fs.exists(this.journalDir)) {
      this.fs.mkdir(this.journalDir);
      // A new directory's name is durable only once its parent is synced: without this, a power cut before
      // the first checkpoint could take the whole journal, and every report acknowledged through it, along.
      if (this.durable) await this.fs.syncDir(this.dir);
    }
    this.restrict(this.journalDir);
    const { fs, dir, journalDir, durable, clock } = this;
    this.journal.start(await replayJournal({ fs, dir, journalDir, durable, clock }));
    this.state.unwritable = null;
  }

  /** While the directory stays unwritable, each upload is refused with 503 between attempts. */
  private async retryOpen(): Promise<void> {
    // Never throws: the writer loop would reject with the batch unsettled (requests left hanging).
    if (!this.state.retryDue()) return;
    try {
      await this.openForWriting();
      storeLog.info(`${this.dir} is writable again`);
    } catch (error) {
      this.state.markUnwritable(error);
    }
  }

  /** Owner-only access; a directory this user may not chmod is left as it is, with a warning. */
  private restrict(dir: string): void {
    try {
      this.fs.restrict?.(dir);
    } catch (error) {
      storeLog.warn(`${dir}: could not restrict access to its owner (${errorMessage(error)})`);
    }
  }

  append(report: PreparedReport, sourceIp: string): Promise<Stored> {
    if (this.closed) return Promise.reject(new StoreUnavailableError("the server is shutting down"));
    if (this.state.failed) return Promise.reject(this.state.failed);
    return this.writer.append(report, sourceIp);
  }

  async newestDate(ip: string): Promise<string | null> {
    return this.catalog.newestDate(ip);
  }

  async readDay(
    ip: string,
    date: string,
    filter: DayFilter = {},
  ): Promise<ReadableStream<Uint8Array> | string | null> {
    const name = dayFileName(ip, date);
    return this.catalog.has(name) ? readDay(this.fs, this.dir, name, filter) : null;
  }

  async listFiles(filter: { ip?: string; date?: string } = {}): Promise<FileInfo[]> {
    return await listFiles(this.fs, this.dir, this.catalog, filter);
  }

  async hosts(): Promise<HostSummary[]> {
    return this.catalog.hosts();
  }

  async health(): Promise<StoreHealth> {
    const problem = this.state.problem(() => this.probe());
    return {
      writable: !problem,
      files: this.catalog.size,
      damaged_lines: this.catalog.damagedLines,
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

  /** The data directory (the archiver reads closed day files there). */
  get directory(): string {
    return this.dir;
  }

  /** Resolves once the start-up check of past days' files is done (they may be cut back until then). */
  async validated(): Promise<void> {
    await this.validating;
  }

  /** Day files in the catalog, with ip and date, for the archiver to choose from. */
  localDays(): { name: string; ip: string; date: string }[] {
    return this.catalog.files({}).map(({ name, ip, date }) => ({ name, ip, date }));
  }

  /** A day file the writer has open (today's, or one it appended to since start): never archived. */
  isOpenForAppend(name: string): boolean {
    return this.files.holds(name);
  }

  /**
   * Removes an archived day file: forgotten by the catalog, unlinked, the directory synced. Refused for a
   * file being appended to; synchronous up to the unlink, so no append can slip in between.
   */
  async removeDay(name: string): Promise<void> {
    if (this.files.holds(name)) throw new Error(`${name} is open for appending`);
    this.catalog.remove(name);
    try {
      await this.fs.unlink(join(this.dir, name));
    } catch (error) {
      this.catalog.add(name);
      throw error;
    }
    await this.fs.syncDir(this.dir);
  }

  /** A day file put back into the directory (archive restore) joins the catalog. */
  addDay(name: string): void {
    this.catalog.add(name);
  }

  /** Resolves once no batch is being written and no checkpoint runs (for tests and shutdown). */
  async settle(): Promise<void> {
    await this.validating;
    await this.writer.idle();
    await this.journal.settle();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settle();
    if (!this.state.refusal() && this.journal.ready) {
      try {
        // Everything is in the day files and synced: the last segment is empty of news.
        await this.journal.finish();
      } catch (error) {
        storeLog.error(
          `final checkpoint failed: ${errorMessage(error)}; the journal is replayed on next start`,
        );
      }
    }
    this.files.closeAll();
    this.releaseLock?.();
    this.releaseLock = null;
  }
}
