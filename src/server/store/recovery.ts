// Recovery on open: the journal replayed into the day files it covers, then a fresh segment started.
// Everything before a file's first journaled offset was synced at a checkpoint; what follows is rebuilt
// from the journal (idempotent through report_id). Then every day file is listed into the catalog, torn
// tails left outside the journal are repaired, and the host summaries are rebuilt from the newest files.
import { basename, join } from "node:path";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { Catalog } from "./catalog.ts";
import {
  appendElement,
  closeDayFile,
  dayFileName,
  EMPTY_DAY,
  parseDayFileName,
  readLastElement,
} from "./day-file.ts";
import type { StoreFs } from "./fs.ts";
import {
  type JournalRecord,
  listSegments,
  openSegment,
  recyclePath,
  type Segment,
  scanSegment,
  segmentPath,
} from "./journal.ts";
import { readExactly } from "./lines.ts";
import { damagedName, openDayFile, type Repair } from "./open-day-file.ts";
import { summarize } from "./summary.ts";

const storeLog = logger("store");
const encoder = new TextEncoder();

interface RecoveryOptions {
  fs: StoreFs;
  dir: string;
  journalDir: string;
  durable: boolean;
  clock: () => Date;
}

/** Replays every segment into its day files, removes them and returns the segment to write next. */
export async function replayJournal(options: RecoveryOptions): Promise<Segment> {
  const { fs, dir, journalDir, durable, clock } = options;
  const seqs = listSegments(fs, journalDir);
  const { byFile, cancelled, damaged } = readJournal(fs, journalDir, seqs);
  let replayed = 0;
  for (const [name, records] of byFile) {
    const first = records[0];
    if (!first) continue;
    // The first record counts even if cancelled: records after a failed append in its batch assumed it took
    // place, so only the first one's offset is where the file really stood.
    const { file } = await openDayFile(fs, join(dir, name), { cutAt: first.offset, clock });
    try {
      for (const record of records) {
        if (cancelled.has(record) || file.ids.has(record.id.toLowerCase())) continue;
        appendElement(fs, file, record.id, encoder.encode(record.element));
        replayed++;
      }
      if (durable) await fs.sync(file.fd);
    } finally {
      closeDayFile(fs, file);
    }
  }
  if (byFile.size && durable) await fs.syncDir(dir);
  if (replayed)
    storeLog.info(`replayed ${replayed} report(s) from the journal into ${byFile.size} day file(s)`);
  const segment = openSegment(fs, journalDir, (seqs.at(-1) ?? 0) + 1);
  if (durable) await fs.syncDir(journalDir);
  for (const seq of seqs) {
    const path = segmentPath(journalDir, seq);
    // A damaged segment is kept for inspection (its name no longer reads as a segment).
    if (damaged.has(seq)) fs.rename(path, damagedName(path, clock()));
    else await fs.unlink(path);
  }
  // Segment numbers restart once the journal is empty, so a file from an earlier run is never reused.
  if (fs.exists(recyclePath(journalDir))) await fs.unlink(recyclePath(journalDir));
  return segment;
}

/** The records per day file, in order, and the ones a later cancel record voids. */
function readJournal(
  fs: StoreFs,
  journalDir: string,
  seqs: number[],
): { byFile: Map<string, JournalRecord[]>; cancelled: Set<JournalRecord>; damaged: Set<number> } {
  const byFile = new Map<string, JournalRecord[]>();
  const cancelled = new Set<JournalRecord>();
  const damaged = new Set<number>();
  for (const seq of seqs) {
    const path = segmentPath(journalDir, seq);
    const fd = fs.openRead(path);
    try {
      const { records, damagedAt } = scanSegment(readExactly(fs, fd, 0, fs.size(fd)), seq);
      if (damagedAt.length) {
        damaged.add(seq);
        storeLog.warn(
          `${path}: ${damagedAt.length} damaged record(s) skipped (at byte ${damagedAt.join(", ")}); the records after them are replayed, and the day files keep every complete element they hold`,
        );
      }
      for (const record of records) {
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
      fs.close(fd);
    }
  }
  return { byFile, cancelled, damaged };
}

/** Lists day files into `catalog`, repairs torn tails (when `repair`), and rebuilds the host summaries. */
export async function scanDayFiles(
  fs: StoreFs,
  dir: string,
  catalog: Catalog,
  repair: boolean,
  clock: () => Date,
): Promise<void> {
  const fix = (name: string) => repairFile(fs, dir, name, catalog, clock);
  let names: string[] = [];
  try {
    names = fs.readdir(dir);
  } catch (error) {
    storeLog.warn(`cannot list ${dir}: ${errorMessage(error)}`);
  }
  for (const name of names) {
    if (!parseDayFileName(name)) continue;
    if (repair && !tailIsClosed(fs, join(dir, name))) await fix(name);
    catalog.add(name);
  }
  for (const [ip, date] of catalog.newestDays()) {
    const name = dayFileName(ip, date);
    let element = readLast(fs, join(dir, name));
    if (element === undefined && repair) {
      await fix(name);
      element = readLast(fs, join(dir, name));
    }
    if (element) catalog.setSummary(summarize(element, ip));
  }
}

/** A cheap look at the last bytes: a closed array ends with "\n]\n" (or is "[\n]\n"). */
function tailIsClosed(fs: StoreFs, path: string): boolean {
  let fd = -1;
  try {
    fd = fs.openRead(path);
    const size = fs.size(fd);
    const tail = new Uint8Array(Math.min(size, 4));
    fs.read(fd, tail, size - tail.length);
    const text = new TextDecoder().decode(tail);
    return text === EMPTY_DAY || (size > EMPTY_DAY.length && text === "}\n]\n");
  } catch {
    return false;
  } finally {
    if (fd !== -1) fs.close(fd);
  }
}

async function repairFile(
  fs: StoreFs,
  dir: string,
  name: string,
  catalog: Catalog,
  clock: () => Date,
): Promise<void> {
  try {
    const { file, repair } = await openDayFile(fs, join(dir, name), { clock });
    closeDayFile(fs, file);
    catalog.setCount(name, { bytes: file.size, reports: file.count });
    logRepair(name, repair, catalog);
  } catch (error) {
    storeLog.error(`${name}: could not be repaired: ${errorMessage(error)}`);
  }
}

/** One log line for what an open found and fixed; set-aside lines are counted for /health. */
export function logRepair(name: string, repair: Repair, catalog: Catalog): void {
  if (!repair.bytesCut && !repair.linesDropped && !repair.keptAs) return;
  catalog.noteDamaged(repair.linesDropped);
  const kept = repair.keptAs ? `; the original is kept as ${basename(repair.keptAs)}` : "";
  if (repair.relaidOut) {
    storeLog.warn(
      `${name}: valid JSON in another layout, re-laid out one element per line, every element kept${kept}`,
    );
  } else if (repair.keptAs) {
    storeLog.warn(
      `${name}: ${repair.linesDropped} damaged line(s) set aside, every complete element kept${kept}`,
    );
  } else {
    storeLog.warn(
      `${name}: cut a torn last append (${repair.bytesCut} bytes, ${repair.linesDropped} broken line(s))`,
    );
  }
}

/** The newest element of a file; null when it is empty, undefined when its tail does not parse. */
function readLast(fs: StoreFs, path: string): unknown {
  let fd = -1;
  try {
    fd = fs.openRead(path);
    return readLastElement(fs, fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== -1) fs.close(fd);
  }
}

/**
 * Validates every line of the given day files (past days, which nothing appends to), one file at a time in
 * the background, setting damaged lines aside. `stop` ends it early (the store is closing).
 */
export async function validateDays(
  fs: StoreFs,
  dir: string,
  names: string[],
  catalog: Catalog,
  clock: () => Date,
  stop: () => boolean,
): Promise<void> {
  for (const name of names) {
    if (stop()) return;
    await repairFile(fs, dir, name, catalog, clock);
    // Let uploads and reads through between files.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
