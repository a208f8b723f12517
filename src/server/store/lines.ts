// Reading a file line by line in bounded chunks: no read ever depends on holding a whole file in memory
// (Bun's TextDecoder returns "" for 2 GiB or more, without an error). A read that comes back short before
// the end is an error, never a shorter file.
import type { StoreFs } from "./fs.ts";

interface Line {
  /** Offset of the line's first byte, and of its end (the newline, or the range's end). */
  start: number;
  end: number;
  /** The line's text (UTF-8), or null when it is not valid UTF-8 or longer than the bound. */
  text: string | null;
  /** Followed by a newline (false only for the range's last line). */
  terminated: boolean;
}

export interface LineOptions {
  /** Bytes read at a time (default 1 MiB). */
  chunk?: number;
  /** Longer lines are reported with text null (default 64 MiB: an upload is at most 8 MiB). */
  maxLine?: number;
  /** Decode only each line's first `head` bytes (leniently: a cut character becomes U+FFFD). */
  head?: number;
}

const NEWLINE = 10;
/** Scans yield to the event loop after this many bytes, so a big file does not block other requests. */
const YIELD_BYTES = 8 * 1024 * 1024;
const decoder = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder();

function shortRead(at: number, end: number): Error {
  return Object.assign(new Error(`read came back short at byte ${at} of ${end}`), { code: "EIO" });
}

/** Reads `length` bytes at `position`, all of them or throws. */
export function readExactly(fs: StoreFs, fd: number, position: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.read(fd, bytes.subarray(done), position + done);
    if (n <= 0) throw shortRead(position + done, position + length);
    done += n;
  }
  return bytes;
}

export function decodeLine(bytes: Uint8Array): string | null {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

/** The lines of bytes [start, end) of an open file, in order. */
export async function* readLines(
  fs: StoreFs,
  fd: number,
  start: number,
  end: number,
  options: LineOptions = {},
): AsyncGenerator<Line> {
  const chunk = options.chunk ?? 1024 * 1024;
  const head = options.head;
  const keep = head ?? options.maxLine ?? 64 * 1024 * 1024;
  const text = (bytes: Uint8Array | null) =>
    bytes === null ? null : head === undefined ? decodeLine(bytes) : lenient.decode(bytes.subarray(0, head));
  let pending: Uint8Array[] = [];
  let pendingLength = 0;
  let overflow = false;
  let lineStart = start;
  let sinceYield = 0;
  for (let pos = start; pos < end; ) {
    const bytes = readExactly(fs, fd, pos, Math.min(chunk, end - pos));
    let from = 0;
    for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, from)) {
      const tooLong = head === undefined && pendingLength + (nl - from) > keep;
      const piece = bytes.subarray(from, Math.min(nl, from + keep));
      const whole = overflow || tooLong ? null : join(pending, pendingLength, piece);
      yield { start: lineStart, end: pos + nl, text: text(whole), terminated: true };
      pending = [];
      pendingLength = 0;
      overflow = false;
      from = nl + 1;
      lineStart = pos + from;
    }
    const rest = bytes.subarray(from);
    if (!overflow && pendingLength + rest.length <= keep) {
      pending.push(rest.slice());
      pendingLength += rest.length;
    } else if (head !== undefined) {
      if (pendingLength < keep) {
        pending.push(rest.slice(0, keep - pendingLength));
        pendingLength = keep;
      }
    } else {
      overflow = true;
      pending = [];
      pendingLength = 0;
    }
    pos += bytes.length;
    sinceYield += bytes.length;
    if (sinceYield >= YIELD_BYTES) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (lineStart < end) {
    const whole = overflow ? null : join(pending, pendingLength, new Uint8Array(0));
    yield { start: lineStart, end, text: text(whole), terminated: false };
  }
}

function join(parts: Uint8Array[], length: number, last: Uint8Array): Uint8Array {
  if (!parts.length) return last;
  const out = new Uint8Array(length + last.length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  out.set(last, at);
  return out;
}

/** Newlines in the first `size` bytes, counted a chunk at a time, yielding between big chunks. */
export async function countNewlines(
  fs: StoreFs,
  fd: number,
  size: number,
  chunk = 1024 * 1024,
): Promise<number> {
  let count = 0;
  let sinceYield = 0;
  for (let pos = 0; pos < size; pos += chunk) {
    const bytes = readExactly(fs, fd, pos, Math.min(chunk, size - pos));
    for (let i = bytes.indexOf(NEWLINE); i !== -1; i = bytes.indexOf(NEWLINE, i + 1)) count++;
    sinceYield += bytes.length;
    if (sinceYield >= YIELD_BYTES) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return count;
}
