// One day file: a JSON array with one element per line, so that appending never reads the file back.
//
//   empty:      "[\n]\n"
//   elements:   "[\n" + e1 + ",\n" + e2 + "\n]\n"
//
// An append overwrites the closing "\n]\n" in place with ",\n" + element + "\n]\n": the same cost for the 1st
// and the 10,000th report. Every element line starts with {"report_id":"<id>", written by the store itself,
// so the ids can be read back without parsing whole reports.
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

/**
 * One day-file element as the store writes it: report_id, received_at and source_ip first (the client's own
 * values for those never count), then the report's JSON object text. Every backend stores this text.
 */
export function elementLine(id: string, receivedAt: string, ip: string, json: string): string {
  const head = `{"report_id":${JSON.stringify(id)},"received_at":"${receivedAt}","source_ip":"${ip}"`;
  return json.length > 2 ? `${head},${json.slice(1)}` : `${head}}`;
}
export const OPEN = "[\n";
export const CLOSE = "\n]\n";
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

/** Where the element that an append writes at `offset` begins; `offset` undoes it. */
interface Appended {
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
  if (id) file.ids.add(id.toLowerCase());
  return { offset };
}

/** Restores the file to what it was before the append that started at `offset`. */
function cutBack(fs: StoreFs, file: DayFile, offset: number): void {
  const closing = offset === OPEN.length ? "]\n" : CLOSE;
  fs.truncate(file.fd, offset);
  fs.write(file.fd, encoder.encode(closing), offset);
  file.size = offset + closing.length;
}

export function closeDayFile(fs: StoreFs, file: DayFile): void {
  fs.close(file.fd);
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
