// The running journal: records appended to the current segment, one fdatasync per batch (group commit),
// cancel records for appends that failed after that fsync, and checkpoints. A checkpoint starts a new
// segment, syncs every day file the old segments cover, then retires them: the first retired segment is kept
// as recycle.wal and renamed into place as a later segment (see journal.ts), any other is removed.
import { join } from "node:path";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { StoreFs } from "./fs.ts";
import {
  appendRecord,
  encodeCancel,
  encodeRecord,
  openSegment,
  recyclePath,
  retireSegment,
  type Segment,
} from "./journal.ts";
import { StoreUnavailableError } from "./types.ts";

const storeLog = logger("store");

interface JournalWriterOptions {
  fs: StoreFs;
  /** The data directory (day files) and the journal's own. */
  dir: string;
  journalDir: string;
  /** false with --fsync never: nothing is journaled, nothing synced. */
  durable: boolean;
  clock: () => Date;
  checkpointBytes: number;
  checkpointMs: number;
  /** Hears each batch's fsync (for /metrics). */
  observer?: JournalObserver;
}

export interface JournalObserver {
  /** One batch made durable: how long its fdatasync took and how many records it carried. */
  synced(seconds: number, records: number): void;
}

export class JournalWriter {
  private segment: Segment | null = null;
  private readonly oldSegments: Segment[] = [];
  /** Day files written since the last checkpoint, and whether one of them was created. */
  private dirty = new Set<string>();
  private created = false;
  private lastCheckpoint = 0;
  private checkpointing: Promise<void> | null = null;
  /** The segments the batch being written has appended to (usually one). */
  private readonly batchSegments = new Set<Segment>();
  /** Records journaled in the batch being written. */
  private batchRecords = 0;

  constructor(private readonly o: JournalWriterOptions) {}

  /** Starts writing to `segment` (a fresh one, from recovery). */
  start(segment: Segment): void {
    this.segment = segment;
    this.lastCheckpoint = this.o.clock().getTime();
  }

  get ready(): boolean {
    return this.segment !== null;
  }

  beginBatch(): void {
    this.batchSegments.clear();
    this.batchRecords = 0;
  }

  /** Journals one element before its day-file append at `offset`. Synchronous: no yield between records. */
  record(file: string, offset: number, id: string, element: Uint8Array): void {
    const segment = this.segment;
    if (!segment) throw new StoreUnavailableError("the store is not open for writing");
    // Without fsync the journal protects nothing: a process crash keeps every completed write (the page
    // cache survives it), and a power cut may take the journal as well as the day file.
    if (this.o.durable) {
      appendRecord(this.o.fs, segment, encodeRecord(segment.seq, { file, offset, id }, element));
      this.batchSegments.add(segment);
      this.batchRecords += 1;
    }
    this.dirty.add(file);
  }

  noteCreated(): void {
    this.created = true;
  }

  /** The batch's one fdatasync (per segment it wrote). Throws if it failed: nothing may be acknowledged. */
  async syncBatch(): Promise<void> {
    if (this.batchSegments.size === 0) return;
    const started = performance.now();
    for (const segment of this.batchSegments) await this.o.fs.sync(segment.fd);
    this.o.observer?.synced((performance.now() - started) / 1000, this.batchRecords);
  }

  /**
   * Takes back reports whose records are synced but whose append failed, so a restart does not replay what
   * was refused with 503. Best effort: if the cancel is lost, the report comes back once (never lost).
   */
  async cancel(entries: ReadonlyArray<{ file: string; id: string }>): Promise<void> {
    if (!this.o.durable) return;
    try {
      const segment = this.segment;
      if (!segment) throw new StoreUnavailableError("the store is not open for writing");
      for (const { file, id } of entries)
        appendRecord(this.o.fs, segment, encodeCancel(segment.seq, file, id));
      await this.o.fs.sync(segment.fd);
    } catch (error) {
      storeLog.warn(
        `could not journal the cancel of ${entries.length} refused report(s) (${errorMessage(error)}); a restart may store them after all`,
      );
    }
  }

  /**
   * Starts a checkpoint in the background when the segment is big or old enough. `inFlight` is the batch
   * being written, which may still be syncing the old segment; `onFail` hears a failed day-file fsync.
   */
  maybeCheckpoint(inFlight: () => Promise<void> | null, onFail: (error: unknown) => void): void {
    const segment = this.segment;
    if (this.checkpointing || !segment) return;
    const big = segment.size >= this.o.checkpointBytes;
    const old = this.dirty.size > 0 && this.o.clock().getTime() - this.lastCheckpoint >= this.o.checkpointMs;
    if (!big && !old) return;
    this.checkpointing = this.checkpoint(inFlight)
      .catch(onFail)
      .finally(() => {
        this.checkpointing = null;
      });
  }

  /** Starts a new segment, syncs every day file the old ones cover, then retires the old segments. */
  async checkpoint(inFlight: () => Promise<void> | null = () => null): Promise<void> {
    const { fs, durable } = this.o;
    const current = this.segment;
    if (!current) return;
    const next = openSegment(fs, this.o.journalDir, current.seq + 1, true);
    if (durable) await fs.syncDir(this.o.journalDir);
    // Swap synchronously with taking the dirty set: every write before this line is in an old segment.
    this.segment = next;
    this.oldSegments.push(current);
    const dirty = this.dirty;
    const created = this.created;
    this.dirty = new Set();
    this.created = false;
    this.lastCheckpoint = this.o.clock().getTime();
    await inFlight()?.catch(() => {});
    if (durable) {
      // A few at a time: thousands of queued fsyncs would hold up the journal's fsync behind them in the
      // thread pool, and with it every upload's acknowledgement.
      const names = [...dirty];
      const lane = async () => {
        for (let name = names.pop(); name !== undefined; name = names.pop())
          await this.syncPath(join(this.o.dir, name));
      };
      await Promise.all(Array.from({ length: 2 }, lane));
      if (created) await fs.syncDir(this.o.dir);
    }
    for (const old of this.oldSegments.splice(0)) await retireSegment(fs, this.o.journalDir, old);
  }

  /** Waits for a running checkpoint. */
  async settle(): Promise<void> {
    await this.checkpointing;
  }

  /** A last checkpoint, then the journal is left empty: everything is in synced day files. */
  async finish(): Promise<void> {
    await this.checkpoint();
    const last = this.segment;
    if (!last) return;
    this.o.fs.close(last.fd);
    this.segment = null;
    await this.o.fs.unlink(last.path);
    const recycle = recyclePath(this.o.journalDir);
    if (this.o.fs.exists(recycle)) await this.o.fs.unlink(recycle);
  }

  private async syncPath(path: string): Promise<void> {
    const fd = this.o.fs.open(path, false);
    try {
      await this.o.fs.sync(fd);
    } finally {
      this.o.fs.close(fd);
    }
  }
}
