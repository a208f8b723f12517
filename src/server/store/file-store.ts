// The embedded default store: day files `<ip>_<YYYY-MM-DD>.json` in one directory, made durable through one
// write-ahead journal with group commit. This file ties the parts together and keeps the store's state
// (open, read-only, failed closed); the parts are:
//   writer.ts        the writer loop: journal a batch, one fsync, append to the day files, acknowledge
//   journal-writer   segments, group commit, cancel records, checkpoints
//   open-files.ts    day-file handles being appended to, and their LRU
//   recovery.ts      journal replay and the start-up scan of the day files
//   catalog.ts       the in-memory list of files, counts, newest dates and host summaries
//   read.ts          the read path
import { join } from "node:path";
import { errorCode, errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import { type DayZone, dayOf } from "../day.ts";
import { Catalog } from "./catalog.ts";
import { dayFileName } from "./day-file.ts";
import { nodeStoreFs, type StoreFs } from "./fs.ts";
import { JournalWriter } from "./journal-writer.ts";
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
import { Writer } from "./writer.ts";

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

const JOURNAL_DIR = ".journal";
/** While the directory is unwritable, opening it for writing is retried at most this often. */
const REOPEN_MS = 1000;
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
  /** Set when an fsync failed: the kernel may have dropped data, so nothing more is acknowledged. */
  private failed: StoreUnavailableError | null = null;
  /** Set while the directory cannot be written at all (read-only, no permission): retried on uploads. */
  private unwritable: StoreUnavailableError | null = null;
  private lastOpenAttempt = 0;
  /** Why the last write failed (disk full...), until one succeeds again: /health reports it. */
  private lastWriteError: StoreUnavailableError | null = null;
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
    this.files = new OpenDayFiles(this.fs, this.dir, options.maxOpenFiles ?? 512, this.catalog, this.clock);
    this.journal = new JournalWriter({
      fs: this.fs,
      dir: this.dir,
      journalDir: this.journalDir,
      durable: this.durable,
      clock: this.clock,
      checkpointBytes: options.checkpointBytes ?? 64 * 1024 * 1024,
      checkpointMs: options.checkpointMs ?? 60_000,
    });
    this.writer = new Writer({
      clock: this.clock,
      dayZone: this.dayZone,
      files: this.files,
      journal: this.journal,
      catalog: this.catalog,
      gate: {
        refusal: () => this.failed ?? this.unwritable,
        retry: () => this.retryOpen(),
        failClosed: (error) => this.failClosed(error),
        wrote: (error) => {
          this.lastWriteError = error;
        },
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
      this.unwritable = unavailable(error);
      this.lastOpenAttempt = this.clock().getTime();
      storeLog.warn(`${this.dir}: ${this.unwritable.message}; serving reads only`);
    }
    await scanDayFiles(this.fs, this.dir, this.catalog, !this.unwritable, this.clock);
    // Today's files are validated when first opened for appending; past days' in the background.
    if (!this.unwritable) {
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
    const opts = {
      fs: this.fs,
      dir: this.dir,
      journalDir: this.journalDir,
      durable: this.durable,
      clock: this.clock,
    };
    this.journal.start(await replayJournal(opts));
    this.unwritable = null;
  }

  /** While the directory stays unwritable, each upload is refused with 503 between attempts. */
  private async retryOpen(): Promise<void> {
    // Never throws: the writer loop would reject with the batch unsettled (requests left hanging).
    if (!this.unwritable || this.clock().getTime() - this.lastOpenAttempt < REOPEN_MS) return;
    this.lastOpenAttempt = this.clock().getTime();
    try {
      await this.openForWriting();
      storeLog.info(`${this.dir} is writable again`);
    } catch (error) {
      this.unwritable = unavailable(error);
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

  private failClosed(error: unknown): void {
    this.failed = new StoreUnavailableError(
      `an fsync failed (${errorMessage(error)}); the store refuses writes until the server restarts and recovers`,
      errorCode(error),
    );
    storeLog.error(this.failed.message);
  }

  append(report: PreparedReport, sourceIp: string): Promise<Stored> {
    if (this.closed) return Promise.reject(new StoreUnavailableError("the server is shutting down"));
    if (this.failed) return Promise.reject(this.failed);
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
    const problem = this.failed ?? this.unwritable ?? this.lastWriteError ?? this.probe();
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
    if (!this.failed && !this.unwritable && this.journal.ready) {
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
