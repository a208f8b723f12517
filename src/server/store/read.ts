// The read path: a day as a JSON array body (streamed as stored, or filtered), and the file list.
import { join } from "node:path";
import type { Catalog, Counted } from "./catalog.ts";
import { EMPTY_DAY, elementLines, joinElements, readAll } from "./day-file.ts";
import type { StoreFs } from "./fs.ts";
import type { DayFilter, FileInfo } from "./types.ts";

const RECEIVED_AT = /^\{"report_id":"[^"]*","received_at":"([^"]*)"/;
const CLOSING = new TextEncoder().encode("\n]\n");

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
  let lines: string[];
  try {
    lines = elementLines(readAll(fs, fd));
  } finally {
    fs.close(fd);
  }
  const { from, to, limit } = filter;
  if (from !== undefined || to !== undefined) {
    lines = lines.filter((line) => {
      const at = receivedAt(line);
      return (from === undefined || at >= from) && (to === undefined || at <= to);
    });
  }
  if (limit !== undefined) lines = lines.slice(Math.max(0, lines.length - limit));
  return joinElements(lines);
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

export function listFiles(
  fs: StoreFs,
  dir: string,
  catalog: Catalog,
  filter: { ip?: string; date?: string },
): FileInfo[] {
  const out: FileInfo[] = [];
  for (const file of catalog.files(filter)) {
    const counted = countReports(fs, dir, catalog, file.name);
    if (counted) out.push({ ...file, ...counted });
  }
  return out;
}

/** Bytes and element count; one newline per element plus two, so counting needs no parsing. */
function countReports(fs: StoreFs, dir: string, catalog: Catalog, name: string): Counted | null {
  let fd = -1;
  try {
    fd = fs.openRead(join(dir, name));
    const bytes = fs.size(fd);
    const cached = catalog.counted(name);
    if (cached && cached.bytes === bytes) return cached;
    const data = readAll(fs, fd);
    let newlines = 0;
    for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) newlines++;
    const counted = { bytes, reports: Math.max(0, newlines - 2) };
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
