// Validating a day file line by line (each element line is parsed), and deciding what to do with what is
// found. Nothing is cut unless positively identified as a torn tail: the partial last append, after the
// last complete element. Anything else that is not the store's own layout is rewritten beside the file,
// keeping every element that parses, with the original kept as `<name>.damaged-<time>`.
import type { StoreFs } from "./fs.ts";
import { type LineOptions, readLines } from "./lines.ts";

const ID_PREFIX = '{"report_id":"';

export type LineKind = "open" | "close" | "separator" | "element" | "bad";

export interface ScannedLine {
  start: number;
  end: number;
  kind: LineKind;
  /** In the store's exact form: "[", "]", or an element starting with ID_PREFIX without extra spaces. */
  canonical: boolean;
  /** An element line followed by its "," separator. */
  comma: boolean;
  terminated: boolean;
}

interface FileScan {
  size: number;
  lines: ScannedLine[];
  /** Report ids of the element lines, lower-cased (ids compare case-insensitively). */
  ids: string[];
}

interface Classified {
  kind: LineKind;
  canonical: boolean;
  comma: boolean;
  /** The element's JSON text in the store's form, for element lines. */
  element?: string;
  id?: string;
}

/** What one line is. An element is a JSON object on one line (spaces, CR and a trailing comma allowed). */
export function classify(text: string | null): Classified {
  if (text === null || text.includes("\0")) return { kind: "bad", canonical: false, comma: false };
  const trimmed = text.trim();
  if (trimmed === "[") return { kind: "open", canonical: text === "[", comma: false };
  if (trimmed === "]") return { kind: "close", canonical: text === "]", comma: false };
  if (trimmed === "" || trimmed === ",") return { kind: "separator", canonical: false, comma: false };
  const comma = trimmed.endsWith(",");
  const body = comma ? trimmed.slice(0, -1).trimEnd() : trimmed;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { kind: "bad", canonical: false, comma: false };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { kind: "bad", canonical: false, comma: false };
  const prefixed = body.startsWith(ID_PREFIX);
  const element = prefixed ? body : JSON.stringify(idFirst(value as Record<string, unknown>));
  const reportId = (value as { report_id?: unknown }).report_id;
  return {
    kind: "element",
    canonical: prefixed && text === (comma ? `${body},` : body),
    comma,
    element,
    ...(typeof reportId === "string" ? { id: reportId.toLowerCase() } : {}),
  };
}

/** The fields the store writes first, first: the read path finds them at the start of each line. */
function idFirst(value: Record<string, unknown>): Record<string, unknown> {
  if (typeof value.report_id !== "string") return value;
  const { report_id, received_at, source_ip, ...rest } = value;
  return { report_id, received_at, source_ip, ...rest };
}

/** Reads and classifies every line of bytes [start, end). */
export async function scanRange(
  fs: StoreFs,
  fd: number,
  start: number,
  end: number,
  options?: LineOptions,
): Promise<FileScan> {
  const lines: ScannedLine[] = [];
  const ids: string[] = [];
  for await (const line of readLines(fs, fd, start, end, options)) {
    const c = classify(line.text);
    if (c.kind === "element" && c.id !== undefined) ids.push(c.id);
    lines.push({
      start: line.start,
      end: line.end,
      kind: c.kind,
      canonical: c.canonical,
      comma: c.comma,
      terminated: line.terminated,
    });
  }
  return { size: end - start, lines, ids };
}

/** The file is exactly "[\n" + elements joined by ",\n" + "\n]\n". */
export function wellFormed(scan: FileScan): boolean {
  const { lines } = scan;
  const open = lines[0];
  const close = lines.at(-1);
  if (open?.kind !== "open" || !open.canonical || open.start !== 0) return false;
  if (close?.kind !== "close" || !close.canonical || !close.terminated || lines.length < 2) return false;
  for (let i = 1; i < lines.length - 1; i++) {
    const line = lines[i] as ScannedLine;
    if (line.kind !== "element" || !line.canonical || line.comma !== i < lines.length - 2) return false;
  }
  return true;
}

/**
 * Where to cut if the only damage is a torn last append: the store's layout up to the last complete
 * element, then at most one broken line and the remains of the closing bracket. Null otherwise.
 */
export function tornTailCut(scan: FileScan): number | null {
  const { lines } = scan;
  const open = lines[0];
  if (open?.kind !== "open" || !open.canonical || open.start !== 0) return null;
  let last = 0;
  for (let i = 1; i < lines.length; i++) if (lines[i]?.kind === "element") last = i;
  for (let i = 1; i < last; i++) {
    const line = lines[i] as ScannedLine;
    if (line.kind !== "element" || !line.canonical || !line.comma) return null;
  }
  let broken = 0;
  for (const line of lines.slice(last + 1)) {
    if (line.kind === "bad") broken++;
    else if (line.kind !== "close" && line.kind !== "separator") return null;
  }
  if (broken > 1) return null;
  const tail = lines[last] as ScannedLine;
  if (last > 0 && !tail.canonical) return null;
  // After the last element's "}" (its comma, if written, goes with the torn append).
  return last === 0 ? 0 : tail.comma ? tail.end - 1 : tail.end;
}

/** Element and broken line counts, for deciding whether the file is in the line layout at all. */
export function census(scan: FileScan): { elements: number; bad: number } {
  let elements = 0;
  let bad = 0;
  for (const line of scan.lines) {
    if (line.kind === "element") elements++;
    else if (line.kind === "bad") bad++;
  }
  return { elements, bad };
}
