// The writer loop. It takes every queued upload and, per batch: journals each new report with the offset its
// day-file append will have, issues one fdatasync of the journal for the whole batch, and only then appends
// to the day files (in place) and acknowledges. So an unsynced day-file write always has a durable journal
// record, whatever order the disk persists writes in. An append that fails after that fsync gets 503 and a
// cancel record in the journal, so recovery does not bring the refused report back (if that cancel itself is
// lost to a power cut, the report reappears: at least once, never lost).
import { type DayZone, dayOf } from "../day.ts";
import type { Catalog } from "./catalog.ts";
import { afterAppend, type DayFile, dayFileName, elementLine, nextOffset } from "./day-file.ts";
import type { JournalWriter } from "./journal-writer.ts";
import type { OpenDayFiles } from "./open-files.ts";
import { type PreparedReport, type Stored, type StoreUnavailableError, unavailable } from "./types.ts";

const encoder = new TextEncoder();

/**
 * How long after midnight a report is also looked up in the previous day's file: an agent retries an
 * unacknowledged upload within this (its backoff is capped at minutes), so a retry that crosses midnight
 * is answered as a duplicate instead of being stored in both days. Later retries are stored again (at
 * least once, never lost).
 */
export const RETRY_WINDOW_MS = 6 * 60 * 60 * 1000;

/** What the writer asks of the store's state: whether it takes writes, and how to report a failed fsync. */
interface WriteGate {
  /** Why writes are refused now, or null. */
  refusal(): StoreUnavailableError | null;
  /** Called before each batch while the directory is unwritable; never throws. */
  retry(): Promise<void>;
  /** A journal or day-file fsync failed: refuse every write from now on. */
  failClosed(error: unknown): void;
  /** The outcome of the latest write: null when it succeeded, else why it failed. */
  wrote(error: StoreUnavailableError | null): void;
}

interface WriterOptions {
  clock: () => Date;
  dayZone: DayZone;
  files: OpenDayFiles;
  journal: JournalWriter;
  catalog: Catalog;
  gate: WriteGate;
}

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

export class Writer {
  private queue: Pending[] = [];
  private writing: Promise<void> | null = null;

  constructor(private readonly o: WriterOptions) {}

  append(report: PreparedReport, ip: string): Promise<Stored> {
    return new Promise<Stored>((resolve, reject) => {
      this.queue.push({ report, ip, resolve, reject });
      this.kick();
    });
  }

  /** The batch being written, if any. */
  get inFlight(): Promise<void> | null {
    return this.writing;
  }

  /** Resolves once no batch is being written. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Refuses one upload with 503; a refusal by the disk (not by the store's state) is the last outcome. */
  private refuse(item: Pending, error: unknown): void {
    const refusal = unavailable(error);
    if (refusal !== this.o.gate.refusal()) this.o.gate.wrote(refusal);
    item.reject(refusal);
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
    const { journal, gate } = this.o;
    while (this.queue.length) {
      const batch = this.queue;
      this.queue = [];
      await gate.retry();
      journal.beginBatch();
      const planned = await this.plan(batch);
      try {
        await journal.syncBatch();
      } catch (error) {
        // The day files stay untouched: their records may be lost, and nothing was acknowledged.
        gate.failClosed(error);
        for (const { item } of planned) item.reject(gate.refusal());
        continue;
      }
      await this.apply(planned);
      if (!gate.refusal()) journal.maybeCheckpoint(() => this.writing, gate.failClosed);
    }
  }

  /**
   * Opens the batch's day files, then journals each new report with the offset its append will have. The
   * day files are written only once these records are synced (see apply).
   */
  private async plan(batch: Pending[]): Promise<Planned[]> {
    const { files, journal, gate } = this.o;
    // One clock reading per batch: all its uploads go to the same day, so no day file of the batch is
    // forgotten at midnight between its journal record and its append.
    const now = this.o.clock();
    const date = dayOf(now, this.o.dayZone);
    const receivedAt = now.toISOString();
    const yesterday = dayOf(new Date(now.getTime() - RETRY_WINDOW_MS), this.o.dayZone);
    const opened: Array<[Pending, DayFile, string]> = [];
    for (const item of batch) {
      try {
        const refusal = gate.refusal();
        if (refusal) throw refusal;
        if (yesterday !== date) {
          const earlier = dayFileName(item.ip, yesterday);
          if ((await files.idsOf(earlier)).has(item.report.id.toLowerCase())) {
            item.resolve({ ip: item.ip, date: yesterday, file: earlier, duplicate: true });
            continue;
          }
        }
        const name = dayFileName(item.ip, date);
        const { file, created } = await files.get(name, date);
        if (created) journal.noteCreated();
        this.o.catalog.add(name);
        opened.push([item, file, name]);
      } catch (error) {
        this.refuse(item, error);
      }
    }
    // Nothing yields from here on: every record lands in the segment that is current now, and each file is
    // marked dirty with it, so the checkpoint that retires this segment syncs these day files.
    const planned: Planned[] = [];
    // Per day file, its size and count once the batch's earlier appends are done, and the ids they add.
    const reserved = new Map<DayFile, { size: number; count: number; ids: Map<string, Planned> }>();
    for (const [item, file, name] of opened) {
      const id = item.report.id.toLowerCase();
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
      const bytes = encoder.encode(elementLine(item.report.id, receivedAt, item.ip, item.report.json));
      try {
        journal.record(name, nextOffset(next), item.report.id, bytes);
      } catch (error) {
        this.refuse(item, error);
        continue;
      }
      const entry: Planned = { item, stored, file, bytes, receivedAt };
      next.ids.set(id, entry);
      Object.assign(next, afterAppend(next, bytes.length));
      planned.push(entry);
    }
    return planned;
  }

  /** Appends the journaled reports to their day files and answers every upload of the batch. */
  private async apply(planned: Planned[]): Promise<void> {
    const { files, catalog, gate } = this.o;
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
        files.append(file, item.report.id, bytes);
      } catch (error) {
        // appendElement cut the partial element back; later appends of the batch start where it began.
        entry.error = error;
        failed.push(entry);
        continue;
      }
      catalog.setCount(entry.stored.file, { bytes: file.size, reports: file.count });
      catalog.setSummary({
        ...item.report.summary,
        ip: item.ip,
        last_seen: entry.receivedAt,
        last_report_id: item.report.id,
      });
      gate.wrote(null);
      item.resolve(entry.stored);
    }
    if (failed.length) {
      gate.wrote(unavailable(failed.at(-1)?.error));
      await this.o.journal.cancel(
        failed.map(({ stored, item }) => ({ file: stored.file, id: item.report.id })),
      );
      for (const { item, error } of failed) item.reject(unavailable(error));
    }
  }
}
