// One day file: a JSON array with one element per line, so that appending never reads the file back.
//
//   empty:      "[\n]\n"
//   elements:   "[\n" + e1 + ",\n" + e2 + "\n]\n"
//
// An append overwrites the closing "\n]\n" in place with ",\n" + element + "\n]\n": the same cost for the 1st
// and the 10,000th report. Every element line starts with {"report_id":"<id>", written by the store itself,
// so the ids can be read back without parsing whole reports.
import { dirname } from "node:path";
import { ipFromFileName, ipToFileName } from "../ip.ts";
import type { StoreFs } from "./fs.ts";

const DAY_FILE = /^(.+)_(\d{4}-\d{2}-\d{2})\.json$/;

/** `<ip>_<YYYY-MM-DD>.json`, the address in its file-name form (IPv6 with "-" for ":"). */
export function dayFileName(ip: string, date: string): string {
  return `${ipToFileName(ip)}_${date}.json`;
}

export function parseDayFileName(name: string): { ip: string; date: string } | null {
  const match = DAY_FILE.exec(name);
  const ip = match?.[1] ? ipFromFileName(match[1]) : null;
  return ip && match?.[2] ? { ip, date: match[2] } : null;
}

export const EMPTY_DAY = "[\n]\n";
const OPEN = "[\n";
const CLOSE = "\n]\n";
const ID_PREFIX = '{"report_id":"';
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 10;
const EMPTY_LEAD = new Uint8Array(0);
const SEPARATOR = encoder.encode(",\n");
const CLOSE_BYTES = encoder.encode(CLOSE);

export interface DayFile {
  readonly path: string;
  fd: number;
  /** Bytes in the file, closing bracket included. */
  size: number;
  count: number;
  ids: Set<string>;
}

/** What an open found and fixed, for the log. */
export interface Repair {
  bytesCut: number;
  linesDropped: number;
}

/** Where the element that an append writes at `offset` begins; `offset` undoes it. */
export interface Appended {
  offset: number;
}

/** Where the next append starts: the offset of the closing bytes ("]\n" when empty, else "\n]\n"). */
export function nextOffset(file: Pick<DayFile, "size" | "count">): number {
  return file.count === 0 ? OPEN.length : file.size - CLOSE.length;
}

/** The size and count the file will have once an element of `length` bytes is appended. */
export function afterAppend(
  file: Pick<DayFile, "size" | "count">,
  length: number,
): { size: number; count: number } {
  const lead = file.count === 0 ? 0 : SEPARATOR.length;
  return { size: nextOffset(file) + lead + length + CLOSE_BYTES.length, count: file.count + 1 };
}

/** Appends one element (its JSON, encoded) in place of the closing bytes. */
export function appendElement(fs: StoreFs, file: DayFile, id: string, element: Uint8Array): Appended {
  const offset = nextOffset(file);
  const lead = file.count === 0 ? EMPTY_LEAD : SEPARATOR;
  const data = new Uint8Array(lead.length + element.length + CLOSE_BYTES.length);
  data.set(lead, 0);
  data.set(element, lead.length);
  data.set(CLOSE_BYTES, lead.length + element.length);
  try {
    fs.write(file.fd, data, offset);
  } catch (error) {
    // A short write (ENOSPC, EIO) left a partial element: cut it and close the array again.
    cutBack(fs, file, offset);
    throw error;
  }
  file.size = offset + data.length;
  file.count += 1;
  file.ids.add(id);
  return { offset };
}

/** Restores the file to what it was before the append that started at `offset`. */
function cutBack(fs: StoreFs, file: DayFile, offset: number): void {
  const closing = offset === OPEN.length ? "]\n" : CLOSE;
  fs.truncate(file.fd, offset);
  fs.write(file.fd, encoder.encode(closing), offset);
  file.size = offset + closing.length;
}

/**
 * Opens (or creates) a day file for appending and makes it valid: a torn tail is cut back to the last
 * complete element and the array closed again. `cutAt` first truncates to a known-durable prefix (journal
 * replay). Reads the file once to learn its report ids, which dedupe retries.
 */
export async function openDayFile(
  fs: StoreFs,
  path: string,
  cutAt?: number,
): Promise<{ file: DayFile; repair: Repair; created: boolean }> {
  let fd = fs.open(path, true);
  const file: DayFile = { path, fd, size: 0, count: 0, ids: new Set() };
  // An empty file is a new one (or one whose creation was all that reached the disk): start the array.
  const created = fs.size(fd) === 0;
  try {
    if (created) {
      fs.write(fd, encoder.encode(EMPTY_DAY), 0);
      file.size = EMPTY_DAY.length;
      return { file, repair: { bytesCut: 0, linesDropped: 0 }, created };
    }
    if (cutAt !== undefined && cutAt <= fs.size(fd)) fs.truncate(fd, cutAt);
    const bytes = readAll(fs, fd);
    const scan = scanElements(decoder.decode(bytes));
    for (const id of scan.ids) file.ids.add(id);
    file.count = scan.ids.length;
    if (scan.wellFormed) {
      file.size = bytes.length;
      return { file, repair: { bytesCut: 0, linesDropped: 0 }, created };
    }
    // Rewrite beside it and rename over, so a crash during the repair cannot lose the good elements.
    const data = encoder.encode(joinElements(scan.lines));
    const temp = `${path}.repair`;
    const tempFd = fs.open(temp, true);
    try {
      fs.truncate(tempFd, 0);
      fs.write(tempFd, data, 0);
      await fs.sync(tempFd);
    } finally {
      fs.close(tempFd);
    }
    fs.close(fd);
    fs.rename(temp, path);
    await fs.syncDir(dirname(path));
    fd = fs.open(path, false);
    file.fd = fd;
    file.size = data.length;
    return {
      file,
      repair: { bytesCut: Math.max(0, bytes.length - data.length), linesDropped: scan.dropped },
      created,
    };
  } catch (error) {
    fs.close(fd);
    throw error;
  }
}

export function closeDayFile(fs: StoreFs, file: DayFile): void {
  fs.close(file.fd);
}

export function readAll(fs: StoreFs, fd: number): Uint8Array {
  const size = fs.size(fd);
  const bytes = new Uint8Array(size);
  let done = 0;
  while (done < size) {
    const n = fs.read(fd, bytes.subarray(done), done);
    if (n <= 0) break;
    done += n;
  }
  return bytes.subarray(0, done);
}

interface Scan {
  /** Ids of the complete elements, in order. */
  ids: string[];
  /** The complete element lines, without separators. */
  lines: string[];
  /** Lines that were not complete elements (torn, zeroed, garbage). */
  dropped: number;
  wellFormed: boolean;
}

/**
 * Walks the element lines. Each line's shape is checked (id prefix, closing brace, no NUL from a torn
 * write); the last line, where a torn append would be, is also parsed to be sure.
 */
function scanElements(text: string): Scan {
  const rows = text.split("\n");
  let wellFormed = rows[0] === "[" && rows.at(-1) === "" && rows.at(-2) === "]";
  const middle = rows.slice(1, wellFormed ? -2 : undefined);
  const ids: string[] = [];
  const lines: string[] = [];
  let dropped = 0;
  middle.forEach((row, index) => {
    const isLast = index === middle.length - 1;
    const body = row.endsWith(",") ? row.slice(0, -1) : row;
    const id = elementId(body, isLast || !wellFormed);
    if (id === null) {
      if (row !== "" && row !== "]") dropped++;
      wellFormed = false;
      return;
    }
    ids.push(id);
    lines.push(body);
    // Elements are separated by ",\n" and the last one is followed by "\n]\n" exactly.
    if (isLast === row.endsWith(",")) wellFormed = false;
  });
  return { ids, lines, dropped, wellFormed };
}

/** The report id of a complete element line, or null if the line is not one. */
function elementId(body: string, parse: boolean): string | null {
  if (!body.startsWith(ID_PREFIX) || !body.endsWith("}") || body.includes("\0")) return null;
  const close = body.indexOf('"', ID_PREFIX.length);
  if (close === -1) return null;
  if (parse) {
    try {
      const value = JSON.parse(body) as unknown;
      if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
    } catch {
      return null;
    }
  }
  return body.slice(ID_PREFIX.length, close);
}

/** The last element of a valid day file, read from the tail without reading the rest; null when empty. */
export function readLastElement(fs: StoreFs, fd: number): unknown {
  const size = fs.size(fd);
  if (size <= EMPTY_DAY.length) return null;
  const end = size - CLOSE.length;
  let chunk = 64 * 1024;
  for (;;) {
    const start = Math.max(0, end - chunk);
    const bytes = new Uint8Array(end - start);
    fs.read(fd, bytes, start);
    const newline = bytes.lastIndexOf(NEWLINE);
    if (newline !== -1 || start === 0) {
      const text = decoder.decode(bytes.subarray(newline + 1));
      return JSON.parse(text.endsWith(",") ? text.slice(0, -1) : text);
    }
    chunk *= 4;
  }
}

/** The element lines of a day file's bytes, without their separators (for filtered queries). */
export function elementLines(bytes: Uint8Array): string[] {
  const text = decoder.decode(bytes);
  if (text.length <= EMPTY_DAY.length) return [];
  return text
    .slice(OPEN.length, text.length - CLOSE.length)
    .split(",\n")
    .filter((line) => line.startsWith(ID_PREFIX));
}

export function joinElements(lines: readonly string[]): string {
  return lines.length ? `${OPEN}${lines.join(",\n")}${CLOSE}` : EMPTY_DAY;
}
