// Moving between the two backends. export writes one day's day files from PostgreSQL, byte for byte what
// /query answers (each written beside, fsynced and renamed over, so a file is whole or absent). import loads
// a data directory's day files into PostgreSQL a batch at a time; a stored key is skipped, so running it
// again (after an interruption, or on a directory that grew) stores only what is missing.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { SQL } from "bun";
import { dayFileName, parseDayFileName } from "../store/day-file.ts";
import { nodeStoreFs } from "../store/fs.ts";
import { readLines } from "../store/lines.ts";
import { summarize } from "../store/summary.ts";
import { type ElementRow, insertElements } from "./insert.ts";
import { Partitions } from "./partitions.ts";
import { PgReportStore } from "./report-store.ts";

const ELEMENT_HEAD = /^\{"report_id":("[^"\\]*"),"received_at":"([^"]*)","source_ip":"([^"]*)"/;

export interface ExportResult {
  files: number;
  reports: number;
}

/** Writes `<ip>_<date>.json` for every host with reports on `date` (only `ip`'s when given). */
export async function exportDay(sql: SQL, date: string, dir: string, ip?: string): Promise<ExportResult> {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const store = new PgReportStore(sql);
  const files = await store.listFiles({ date, ...(ip ? { ip } : {}) });
  let reports = 0;
  for (const file of files) {
    const body = await store.readDay(file.ip, date);
    if (body === null) continue;
    const path = join(dir, dayFileName(file.ip, date));
    const temp = `${path}.export-tmp`;
    const fd = openSync(temp, "w", 0o600);
    try {
      if (typeof body === "string") writeSync(fd, body);
      else for await (const chunk of body) writeSync(fd, chunk);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    reports += file.reports;
  }
  if (files.length && process.platform !== "win32") {
    const fd = openSync(dir, "r");
    fsyncSync(fd);
    closeSync(fd);
  }
  return { files: files.length, reports };
}

export interface ImportResult {
  files: number;
  /** Elements read from the day files. */
  read: number;
  /** Of those, stored now (the rest were there already). */
  stored: number;
  /** Lines that are not an element the store wrote (a torn tail, a damaged line): left out and counted. */
  skipped: number;
}

/** Loads every day file of `dir` (the file store's layout); progress goes to `note` per file. */
export async function importDir(
  sql: SQL,
  dir: string,
  note: (line: string) => void = () => {},
  batchRows = 200,
): Promise<ImportResult> {
  const names = readdirSync(dir)
    .filter((name) => parseDayFileName(name) !== null)
    .sort();
  const partitions = new Partitions(sql);
  const total: ImportResult = { files: 0, read: 0, stored: 0, skipped: 0 };
  for (const name of names) {
    const parsed = parseDayFileName(name) as { ip: string; date: string };
    await partitions.ensure(parsed.date);
    const fd = nodeStoreFs.openRead(join(dir, name));
    let batch: ElementRow[] = [];
    const flush = async () => {
      total.stored += (await insertElements(sql, batch)).size;
      batch = [];
    };
    try {
      const size = nodeStoreFs.size(fd);
      for await (const line of readLines(nodeStoreFs, fd, 0, size)) {
        if (line.text === null) {
          total.skipped++;
          continue;
        }
        const text = line.text.endsWith(",") ? line.text.slice(0, -1) : line.text;
        if (text === "[" || text === "]" || text === "") continue;
        const row = elementRow(text, parsed);
        if (!row) {
          total.skipped++;
          continue;
        }
        total.read++;
        batch.push(row);
        if (batch.length >= batchRows) await flush();
      }
      await flush();
    } finally {
      nodeStoreFs.close(fd);
    }
    total.files++;
    note(`${name}: done (${total.stored} stored, ${total.read - total.stored} there already so far)`);
  }
  return total;
}

/** The row for one element line, or null when it is not an element of this file. */
function elementRow(text: string, file: { ip: string; date: string }): ElementRow | null {
  const head = ELEMENT_HEAD.exec(text);
  if (!head?.[1] || !head[2] || head[3] !== file.ip) return null;
  let element: unknown;
  try {
    element = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof element !== "object" || element === null || Array.isArray(element)) return null;
  const reportId = JSON.parse(head[1]) as string;
  if (!reportId) return null;
  return {
    day: file.date,
    ip: file.ip,
    reportId,
    receivedAt: head[2],
    element: text,
    summary: summarize(element, file.ip),
  };
}
