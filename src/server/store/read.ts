// The read path: a day as a JSON array body (streamed as stored, or filtered), and the file list.
import { join } from "node:path";
import type { Catalog, Counted } from "./catalog.ts";
import { EMPTY_DAY } from "./day-file.ts";
import type { StoreFs } from "./fs.ts";
import { countNewlines, readExactly, readLines } from "./lines.ts";
import type { DayFilter, FileInfo } from "./types.ts";

const RECEIVED_AT = /^\{"report_id":"[^"]*","received_at":"([^"]*)"/;
const encoder = new TextEncoder();
const OPENING = encoder.encode("[\n");
const OPEN_LENGTH = OPENING.length;
const SEPARATOR = encoder.encode(",\n");
const CLOSING = encoder.encode("\n]\n");
/** Only a line's start is decoded to filter it: report_id and received_at come first. */
const HEAD_BYTES = 256;
const BACK_CHUNK = 256 * 1024;
const NEWLINE = 10;
/** Filtered answers up to this size are returned as one string, bigger ones streamed. */
const INLINE_BYTES = 1024 * 1024;
const decoder = new TextDecoder();

export async function readDay(
  fs: StoreFs,
  dir: string,
  name: string,
  filter: DayFilter,
): Promise<ReadableStream<Uint8Array> | string> {
  const path = join(dir, name);
  const unfiltered = filter.from === undefined && filter.to === undefined && filter.limit === undefined;
  if (unfiltered) return streamSnapshot(fs, path);
  const fd = fs.openRead(path);
  let ranges: Array<[number, number]>;
  try {
    ranges = await matchingLines(fs, fd, filter);
  } catch (error) {
    fs.close(fd);
    throw error;
  }
  const total = ranges.reduce((sum, [start, end]) => sum + end - start, 0);
  if (total > INLINE_BYTES) return streamRanges(fs, fd, ranges);
  // A small answer is read at once.
  try {
    const texts = ranges.map(([start, end]) => decoder.decode(readExactly(fs, fd, start, end - start)));
    return texts.length ? `[\n${texts.join(",\n")}\n]\n` : EMPTY_DAY;
  } finally {
    fs.close(fd);
  }
}

/**
 * A line-offset index of the elements that pass the filter, read line by line: memory is one line and
 * two numbers per match (only `limit` of them with a limit), never the file.
 */
async function matchingLines(
  fs: StoreFs,
  fd: number,
  { from, to, limit }: DayFilter,
): Promise<Array<[number, number]>> {
  const size = fs.size(fd);
  if (size <= EMPTY_DAY.length) return [];
  if (from === undefined && to === undefined && limit !== undefined) return lastLines(fs, fd, size, limit);
  const ranges: Array<[number, number]> = [];
  // The bytes before the closing "\n]\n" never change: read up to there.
  for await (const line of readLines(fs, fd, OPEN_LENGTH, size - CLOSING.length, { head: HEAD_BYTES })) {
    if (line.text === null || !line.text.startsWith('{"')) continue;
    if (from !== undefined || to !== undefined) {
      const at = receivedAt(line.text);
      if ((from !== undefined && at < from) || (to !== undefined && at > to)) continue;
    }
    // Every element line but the last ends with its "," separator.
    ranges.push([line.start, line.terminated ? line.end - 1 : line.end]);
    if (limit !== undefined && ranges.length > 2 * limit) ranges.splice(0, ranges.length - limit);
  }
  return limit === undefined ? ranges : ranges.slice(-limit);
}

/** The newest `limit` element lines, found from the end: the cost of `limit=1` does not grow with the day. */
function lastLines(fs: StoreFs, fd: number, size: number, limit: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  // Elements end before the closing "\n]\n"; each line but the last ends with ",".
  let end = size - CLOSING.length;
  let lineEnd = end;
  while (end > OPEN_LENGTH && ranges.length < limit) {
    const start = Math.max(OPEN_LENGTH, end - BACK_CHUNK);
    const bytes = readExactly(fs, fd, start, end - start);
    for (
      let i = bytes.lastIndexOf(NEWLINE);
      i !== -1 && ranges.length < limit;
      i = bytes.lastIndexOf(NEWLINE, i - 1)
    ) {
      ranges.push([start + i + 1, lineEnd]);
      lineEnd = start + i - 1; // before the "," that ends the previous line
      if (i === 0) break;
    }
    end = start;
  }
  if (ranges.length < limit && lineEnd > OPEN_LENGTH) ranges.push([OPEN_LENGTH, lineEnd]);
  return ranges.reverse();
}

/** The chosen element lines as a JSON array, read from the file one at a time as the client takes them. */
function streamRanges(fs: StoreFs, fd: number, ranges: Array<[number, number]>): ReadableStream<Uint8Array> {
  let next = 0;
  const done = () => fs.close(fd);
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const range = ranges[next];
      if (!range) {
        controller.enqueue(CLOSING);
        controller.close();
        done();
        return;
      }
      try {
        const lead = next === 0 ? OPENING : SEPARATOR;
        const body = readExactly(fs, fd, range[0], range[1] - range[0]);
        const chunk = new Uint8Array(lead.length + body.length);
        chunk.set(lead, 0);
        chunk.set(body, lead.length);
        controller.enqueue(chunk);
        next++;
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    cancel: done,
  });
}

/**
 * Streams the file as it is now. Bytes before the closing "\n]\n" never change, so a concurrent append
 * cannot tear what the reader gets: it is sent up to there and closed by hand.
 */
function streamSnapshot(fs: StoreFs, path: string): ReadableStream<Uint8Array> | string {
  const fd = fs.openRead(path);
  let size: number;
  try {
    size = fs.size(fd);
  } finally {
    fs.close(fd);
  }
  if (size <= EMPTY_DAY.length) return EMPTY_DAY;
  const body = Bun.file(path)
    .slice(0, size - 3)
    .stream();
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush(controller) {
        controller.enqueue(CLOSING);
      },
    }),
  );
}

/**
 * The file list from the catalog: no file is opened for one whose count is known (kept up to date by every
 * append). The others (not written since start) are counted once, a chunk at a time, yielding in between.
 */
export async function listFiles(
  fs: StoreFs,
  dir: string,
  catalog: Catalog,
  filter: { ip?: string; date?: string },
): Promise<FileInfo[]> {
  const entries = catalog.files(filter);
  for (const entry of entries) {
    if (entry.bytes === undefined || entry.reports === undefined)
      await countReports(fs, dir, catalog, entry.name);
  }
  // Known counts are the catalog's entries as they are (no copy per file); files that vanished are left out.
  return entries.filter(
    (entry): entry is FileInfo => entry.bytes !== undefined && entry.reports !== undefined,
  );
}

/** Bytes and element count; one newline per element plus two, so counting needs no parsing. */
async function countReports(
  fs: StoreFs,
  dir: string,
  catalog: Catalog,
  name: string,
): Promise<Counted | null> {
  let fd = -1;
  try {
    fd = fs.openRead(join(dir, name));
    const bytes = fs.size(fd);
    const counted = { bytes, reports: Math.max(0, (await countNewlines(fs, fd, bytes)) - 2) };
    catalog.setCount(name, counted);
    return counted;
  } catch {
    return null;
  } finally {
    if (fd !== -1) fs.close(fd);
  }
}

function receivedAt(line: string): string {
  return RECEIVED_AT.exec(line)?.[1] ?? "";
}
