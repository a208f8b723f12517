// The write-ahead journal: every accepted element is appended here first, and one fdatasync of this single
// file makes a whole batch of uploads durable, whichever day files they go to (group commit across hosts).
// Segments are numbered; a checkpoint starts a new segment, syncs the day files, then deletes the old ones.
//
// Record: u32 payload length, u32 CRC-32 of the payload, payload = meta JSON + "\n" + element.
// A torn or corrupt record ends its segment: nothing in it or after it was acknowledged.
// A cancel record (no element) takes back the latest earlier record of its file and id: that report's
// day-file append failed after its record was synced, and the client was told so (503).
import { join } from "node:path";
import type { StoreFs } from "./fs.ts";

const HEADER = 8;
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

export function openSegment(fs: StoreFs, dir: string, seq: number): Segment {
  const path = segmentPath(dir, seq);
  const fd = fs.open(path, true);
  return { seq, path, fd, size: fs.size(fd) };
}

/** One record: `element` is the element's JSON, already encoded (the day file gets the same bytes). */
export function encodeRecord(meta: Omit<JournalRecord, "element">, element: Uint8Array): Uint8Array {
  const head = encoder.encode(`${JSON.stringify({ f: meta.file, o: meta.offset, i: meta.id })}\n`);
  return encodePayload(head, element);
}

function encodePayload(head: Uint8Array, element: Uint8Array): Uint8Array {
  const length = head.length + element.length;
  const out = new Uint8Array(HEADER + length);
  out.set(head, HEADER);
  out.set(element, HEADER + head.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, length, true);
  view.setUint32(4, Bun.hash.crc32(out.subarray(HEADER)), true);
  return out;
}

/** A cancel record for `id` in `file` (see the header). */
export function encodeCancel(file: string, id: string): Uint8Array {
  return encodePayload(encoder.encode(`${JSON.stringify({ f: file, o: -1, i: id, c: 1 })}\n`), EMPTY);
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

/** The complete records of a segment, in order, up to the first torn or corrupt one. */
export function readSegment(bytes: Uint8Array): JournalRecord[] {
  const records: JournalRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  while (pos + HEADER <= bytes.length) {
    const length = view.getUint32(pos, true);
    const crc = view.getUint32(pos + 4, true);
    if (length === 0 || pos + HEADER + length > bytes.length) break;
    const payload = bytes.subarray(pos + HEADER, pos + HEADER + length);
    if (Bun.hash.crc32(payload) !== crc) break;
    const text = decoder.decode(payload);
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
      records.push(record);
    } catch {
      break;
    }
    pos += HEADER + length;
  }
  return records;
}
