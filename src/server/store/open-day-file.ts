// Opening a day file for appending: every line validated first (see scan.ts), and what is found either used
// as is, cut back (only a torn last append), or rewritten beside the file keeping every element that
// parses, with the original kept as `<name>.damaged-<time>`.
import { basename, dirname } from "node:path";
import { appendElement, CLOSE, type DayFile, EMPTY_DAY, OPEN } from "./day-file.ts";
import type { StoreFs } from "./fs.ts";
import { decodeLine, type LineOptions, readExactly, readLines } from "./lines.ts";
import { census, classify, type ScannedLine, scanRange, tornTailCut, wellFormed } from "./scan.ts";
import { StoreUnavailableError } from "./types.ts";

const encoder = new TextEncoder();

/** What an open found and fixed, for the log. */
export interface Repair {
  bytesCut: number;
  linesDropped: number;
  /** Where the original was kept, when the file was rewritten. */
  keptAs?: string;
  /** The file parsed as JSON in another layout and was re-laid out, every element kept. */
  relaidOut?: boolean;
}

/** How a file not written by the store is marked: the original kept beside, named by the time. */
export function damagedName(path: string, now: Date): string {
  return `${path}.damaged-${now.toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "")}`;
}

/** Files in another layout are re-laid out from one JSON.parse up to this size; bigger ones are refused. */
const RELAYOUT_MAX_BYTES = 64 * 1024 * 1024;

interface OpenOptions {
  /** Journal replay: bytes from here on were not synced and are rebuilt (see recovery.ts). */
  cutAt?: number;
  clock?: () => Date;
  lines?: LineOptions;
}

/**
 * Opens (or creates) a day file for appending, after validating every line (ids dedupe retries). The
 * store's layout is used as is; a torn last append is cut back to the last complete element; anything else
 * is rewritten keeping every element that parses (see scan.ts), or refused when too big to re-lay out.
 */
export async function openDayFile(
  fs: StoreFs,
  path: string,
  options: OpenOptions = {},
): Promise<{ file: DayFile; repair: Repair; created: boolean }> {
  const fd = fs.open(path, true);
  const file: DayFile = { path, fd, size: 0, count: 0, ids: new Set() };
  const created = fs.size(fd) === 0;
  try {
    // An empty file is a new one (or one whose creation was all that reached the disk): start the array.
    if (created) {
      fs.write(fd, encoder.encode(EMPTY_DAY), 0);
      file.size = EMPTY_DAY.length;
      return { file, repair: NO_REPAIR, created };
    }
    const repair =
      options.cutAt !== undefined && (await cutForReplay(fs, file, options.cutAt, options.lines))
        ? NO_REPAIR
        : await validate(fs, file, options);
    return { file, repair, created };
  } catch (error) {
    fs.close(file.fd);
    throw error;
  }
}

const NO_REPAIR: Repair = { bytesCut: 0, linesDropped: 0 };
const COPY_CHUNK = 4 * 1024 * 1024;

/**
 * Journal replay: the bytes before `cutAt` were synced at a checkpoint, the rest may hold holes and torn
 * writes. Cuts there and appends back every complete element that follows: the journal replays the rest,
 * so a damaged journal record loses nothing the day file still holds. False if the synced prefix is not in
 * the store's layout (then the whole file is validated instead).
 */
async function cutForReplay(
  fs: StoreFs,
  file: DayFile,
  cutAt: number,
  lines?: LineOptions,
): Promise<boolean> {
  const size = fs.size(file.fd);
  if (cutAt < OPEN.length || cutAt > size) return false;
  const prefix = await scanRange(fs, file.fd, 0, cutAt, lines);
  const last = prefix.lines.at(-1);
  const prefixOk =
    wellFormedPrefix(prefix.lines) &&
    (cutAt === OPEN.length ? prefix.lines.length === 1 : last?.kind === "element" && !last.terminated);
  if (!prefixOk) return false;
  const kept: Array<{ id: string; element: string }> = [];
  for await (const line of readLines(fs, file.fd, cutAt, size, lines)) {
    const c = classify(line.text);
    if (c.kind === "element" && c.element && c.id) kept.push({ id: c.id, element: c.element });
  }
  fs.truncate(file.fd, cutAt);
  const closing = cutAt === OPEN.length ? "]\n" : CLOSE;
  fs.write(file.fd, encoder.encode(closing), cutAt);
  file.size = cutAt + closing.length;
  file.count = prefix.lines.length - 1;
  for (const id of prefix.ids) file.ids.add(id);
  for (const { id, element } of kept) {
    if (!file.ids.has(id)) appendElement(fs, file, id, encoder.encode(element));
  }
  return true;
}

function wellFormedPrefix(lines: ScannedLine[]): boolean {
  const open = lines[0];
  if (open?.kind !== "open" || !open.canonical || open.start !== 0) return false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as ScannedLine;
    if (line.kind !== "element" || !line.canonical || line.comma !== i < lines.length - 1) return false;
  }
  return true;
}

async function validate(fs: StoreFs, file: DayFile, options: OpenOptions): Promise<Repair> {
  const size = fs.size(file.fd);
  const scan = await scanRange(fs, file.fd, 0, size, options.lines);
  if (wellFormed(scan)) {
    for (const id of scan.ids) file.ids.add(id);
    file.count = scan.lines.length - 2;
    file.size = size;
    return NO_REPAIR;
  }
  const cut = tornTailCut(scan);
  const now = options.clock?.() ?? new Date(0);
  if (cut !== null) {
    // Only the partial last append goes; every complete element before it stays. Rewritten beside and
    // renamed over (atomic under power loss); a big file is cut in place and synced instead of copied.
    const dropped = census(scan).bad;
    if (size <= RELAYOUT_MAX_BYTES) {
      await rewrite(fs, file, now, salvage(fs, file.fd, size, options.lines), false);
    } else {
      const closing = cut === 0 ? EMPTY_DAY : CLOSE;
      fs.truncate(file.fd, cut);
      fs.write(file.fd, encoder.encode(closing), cut);
      await fs.sync(file.fd);
      file.size = cut + closing.length;
      const kept = scan.lines.filter((line) => line.kind === "element" && line.end <= cut);
      file.count = kept.length;
      for (const id of scan.ids.slice(0, kept.length)) file.ids.add(id);
    }
    return { bytesCut: size - file.size, linesDropped: dropped };
  }
  const { elements, bad } = census(scan);
  const lineLayout = scan.lines[0]?.kind === "open" && bad <= elements;
  let values: unknown[] | null = null;
  if (!lineLayout) {
    if (size > RELAYOUT_MAX_BYTES) {
      throw new StoreUnavailableError(
        `${basename(file.path)} is not in the store's line layout and too big (${size} bytes) to re-lay out here; it is served as it is and nothing is appended to it until it is re-laid out (jq -c) or moved away`,
      );
    }
    values = parseWhole(readExactly(fs, file.fd, 0, size));
  }
  const keptAs = await rewrite(fs, file, now, values ?? salvage(fs, file.fd, size, options.lines));
  return {
    bytesCut: Math.max(0, size - file.size),
    linesDropped: values ? 0 : bad,
    ...(keptAs ? { keptAs } : {}),
    relaidOut: values !== null,
  };
}

/** A whole file that parses as JSON: its elements (a value that is not an array is one element). */
function parseWhole(bytes: Uint8Array): unknown[] | null {
  const text = decodeLine(bytes);
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value : [value];
  } catch {
    return null;
  }
}

/** The element lines of a damaged file, in the store's form, read again one at a time. */
async function* salvage(fs: StoreFs, fd: number, size: number, lines?: LineOptions): AsyncGenerator<string> {
  for await (const line of readLines(fs, fd, 0, size, lines)) {
    const c = classify(line.text);
    if (c.kind === "element" && c.element) yield c.element;
  }
}

/**
 * Writes the elements beside the file in the store's layout, keeps the original as `.damaged-<time>`, and
 * renames the new file over: a crash at any point leaves the old or the new file, never neither.
 */
async function rewrite(
  fs: StoreFs,
  file: DayFile,
  now: Date,
  elements: Iterable<unknown> | AsyncIterable<unknown>,
  keepOriginal = true,
): Promise<string | undefined> {
  const temp = `${file.path}.repair`;
  const out: DayFile = { path: temp, fd: fs.open(temp, true), size: 0, count: 0, ids: new Set() };
  try {
    fs.truncate(out.fd, 0);
    fs.write(out.fd, encoder.encode(EMPTY_DAY), 0);
    out.size = EMPTY_DAY.length;
    for await (const element of elements) {
      // An element of a re-laid-out file that is not an object is kept, as a line of its own.
      const text = typeof element === "string" ? element : elementText(element);
      const id = classify(text).id ?? "";
      appendElement(fs, out, id, encoder.encode(text));
    }
    await fs.sync(out.fd);
  } finally {
    fs.close(out.fd);
  }
  const keptAs = keepOriginal ? damagedName(file.path, now) : undefined;
  if (keptAs) await copyFile(fs, file.fd, keptAs);
  fs.close(file.fd);
  fs.rename(temp, file.path);
  await fs.syncDir(dirname(file.path));
  file.fd = fs.open(file.path, false);
  file.size = out.size;
  file.count = out.count;
  for (const id of out.ids) if (id) file.ids.add(id);
  return keptAs;
}

function elementText(value: unknown): string {
  const json = JSON.stringify(value) ?? "null";
  return classify(json).element ?? json;
}

async function copyFile(fs: StoreFs, fd: number, to: string): Promise<void> {
  const size = fs.size(fd);
  const out = fs.open(to, true);
  try {
    fs.truncate(out, 0);
    for (let pos = 0; pos < size; pos += COPY_CHUNK) {
      fs.write(out, readExactly(fs, fd, pos, Math.min(COPY_CHUNK, size - pos)), pos);
    }
    await fs.sync(out);
  } finally {
    fs.close(out);
  }
}
