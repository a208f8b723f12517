// The write-ahead journal: every accepted element is appended here first, and one fdatasync of this single
// file makes a whole batch of uploads durable, whichever day files they go to (group commit across hosts).
// Segments are numbered; a checkpoint starts a new segment, syncs the day files, then retires the old ones.
// A retired segment is kept as recycle.wal and renamed into place as the next segment, where it is
// overwritten from the start: freeing 64 MiB of blocks stalls the file system for tens of milliseconds (and
// every upload's fsync with it), and overwriting allocated blocks spares each fdatasync a size update.
//
// Record: u32 payload length, u32 CRC-32 of seq + payload, u32 segment seq, payload = meta JSON + "\n" +
// element. A torn record, or one of another seq (what a recycled file held before), ends its segment:
// nothing in it or after it was acknowledged. A corrupt record with good ones of its seq after it is
// damage: it is skipped, reported, and the segment kept for inspection.
// A cancel record (no element) takes back the latest earlier record of its file and id: that report's
// day-file append failed after its record was synced, and the client was told so (503).
import { join } from "node:path";
import type { StoreFs } from "./fs.ts";

const HEADER = 12;
const RECYCLE = "recycle.wal";
const SEGMENT = /^(\d{8})\.wal$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

export interface JournalRecord {
  /** Day file name, e.g. 10.0.0.5_2026-11-23.json. */
  file: string;
  /** Byte offset in the day file where this element's append began. */
  offset: number;
  id: string;
  element: string;
  /** A cancel record: the latest earlier record with this file and id is void. */
  cancel?: boolean;
}

export interface Segment {
  seq: number;
  path: string;
  fd: number;
  size: number;
}

export function segmentPath(dir: string, seq: number): string {
  return join(dir, `${String(seq).padStart(8, "0")}.wal`);
}

export function listSegments(fs: StoreFs, dir: string): number[] {
  return fs
    .readdir(dir)
    .map((name) => SEGMENT.exec(name)?.[1])
    .filter((seq): seq is string => seq !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export function recyclePath(dir: string): string {
  return join(dir, RECYCLE);
}

/**
 * Opens segment `seq`, a new file or, with `recycle`, the retired segment renamed into place (written from
 * offset 0; its old records have another seq). The caller makes the name durable before writing to it.
 */
export function openSegment(fs: StoreFs, dir: string, seq: number, recycle = false): Segment {
  const path = segmentPath(dir, seq);
  if (recycle && fs.exists(recyclePath(dir))) {
    fs.rename(recyclePath(dir), path);
    return { seq, path, fd: fs.open(path, false), size: 0 };
  }
  const fd = fs.open(path, true);
  return { seq, path, fd, size: fs.size(fd) };
}

/** Closes a segment whose records are all in synced day files, keeping its file for reuse when none is kept. */
export async function retireSegment(fs: StoreFs, dir: string, segment: Segment): Promise<void> {
  fs.close(segment.fd);
  if (fs.exists(recyclePath(dir))) await fs.unlink(segment.path);
  else fs.rename(segment.path, recyclePath(dir));
}

/** One record: `element` is the element's JSON, already encoded (the day file gets the same bytes). */
export function encodeRecord(
  seq: number,
  meta: Omit<JournalRecord, "element">,
  element: Uint8Array,
): Uint8Array {
  const head = encoder.encode(`${JSON.stringify({ f: meta.file, o: meta.offset, i: meta.id })}\n`);
  return encodePayload(seq, head, element);
}

function encodePayload(seq: number, head: Uint8Array, element: Uint8Array): Uint8Array {
  const length = head.length + element.length;
  const out = new Uint8Array(HEADER + length);
  out.set(head, HEADER);
  out.set(element, HEADER + head.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, length, true);
  view.setUint32(8, seq, true);
  view.setUint32(4, Bun.hash.crc32(out.subarray(8)), true);
  return out;
}

/** A cancel record for `id` in `file` (see the header). */
export function encodeCancel(seq: number, file: string, id: string): Uint8Array {
  return encodePayload(seq, encoder.encode(`${JSON.stringify({ f: file, o: -1, i: id, c: 1 })}\n`), EMPTY);
}

/** Appends one record; on failure the segment is cut back so no partial record stays. */
export function appendRecord(fs: StoreFs, segment: Segment, record: Uint8Array): void {
  try {
    fs.write(segment.fd, record, segment.size);
  } catch (error) {
    fs.truncate(segment.fd, segment.size);
    throw error;
  }
  segment.size += record.length;
}

/** The complete records of segment `seq`, in order, up to the first torn, corrupt or stale one. */
export function readSegment(bytes: Uint8Array, seq: number): JournalRecord[] {
  return scanSegment(bytes, seq).records;
}

/**
 * The records of segment `seq`. A bad record followed by good ones of the same seq is damage in the middle
 * (a flipped bit, a wrong length), not the torn end of a crash: reading goes on at the next good record,
 * and the offsets where damage was skipped are returned.
 */
export function scanSegment(
  bytes: Uint8Array,
  seq: number,
): { records: JournalRecord[]; damagedAt: number[] } {
  const records: JournalRecord[] = [];
  const damagedAt: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  while (pos + HEADER <= bytes.length) {
    const record = recordAt(bytes, view, pos, seq);
    if (record) {
      records.push(record.record);
      pos += record.length;
      continue;
    }
    // Damage comes after good records; at the start, the file may be a recycled one of another seq.
    const next = records.length ? nextRecord(bytes, view, pos + 1, seq) : -1;
    if (next === -1) break;
    damagedAt.push(pos);
    pos = next;
  }
  return { records, damagedAt };
}

function recordAt(
  bytes: Uint8Array,
  view: DataView,
  pos: number,
  seq: number,
): { record: JournalRecord; length: number } | null {
  const length = view.getUint32(pos, true);
  const crc = view.getUint32(pos + 4, true);
  if (length === 0 || pos + HEADER + length > bytes.length) return null;
  if (view.getUint32(pos + 8, true) !== seq) return null;
  if (Bun.hash.crc32(bytes.subarray(pos + 8, pos + HEADER + length)) !== crc) return null;
  const text = decoder.decode(bytes.subarray(pos + HEADER, pos + HEADER + length));
  const split = text.indexOf("\n");
  try {
    const meta = JSON.parse(text.slice(0, split)) as { f: string; o: number; i: string; c?: number };
    const record: JournalRecord = {
      file: meta.f,
      offset: meta.o,
      id: meta.i,
      element: text.slice(split + 1),
    };
    if (meta.c === 1) record.cancel = true;
    return { record, length: HEADER + length };
  } catch {
    return null;
  }
}

/** The offset of the next valid record of `seq` at or after `from`, or -1. */
function nextRecord(bytes: Uint8Array, view: DataView, from: number, seq: number): number {
  for (let pos = from; pos + HEADER <= bytes.length; pos++) {
    if (view.getUint32(pos + 8, true) !== seq) continue;
    if (recordAt(bytes, view, pos, seq)) return pos;
  }
  return -1;
}
