// A single pass over an upload's raw bytes before JSON.parse, so rejecting a hostile body costs little
// compared with its size. Measured on the bodies that used to stall the server: an 8 MiB `["a","a",…]` cost
// 1.8 s in the validator, an object with 700k keys 0.75 s in JSON.parse alone, a 4-million-deep array 0.96 s;
// each is now refused after its first bytes. The scan also finds what JSON.parse would silently change:
// numbers that overflow to Infinity (stored as null) and lone UTF-16 surrogates (a day file jq cannot read).
import { ApiError } from "./http-error.ts";

/** Bounds no report comes near: the biggest list a report holds is 20,000 processes. */
export const SHAPE_LIMITS = {
  depth: 64,
  keysPerObject: 1_024,
  itemsPerArray: 32_768,
  elements: 1_000_000,
} as const;

/** What the top level must be: an object (a report), or also a list of objects (a batch of log entries). */
export type TopLevel = "object" | "object-or-list";

interface Shape {
  /** Some string holds a \uD800-\uDFFF escape that is not half of a pair. */
  loneSurrogates: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;

const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isNumberByte = (c: number | undefined) =>
  c !== undefined &&
  ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x45 || c === 0x65);

function hex4(b: Uint8Array, at: number): number {
  let value = 0;
  for (let k = at; k < at + 4; k++) {
    const c = b[k] ?? 0;
    const digit =
      c >= 0x30 && c <= 0x39
        ? c - 0x30
        : c >= 0x61 && c <= 0x66
          ? c - 87
          : c >= 0x41 && c <= 0x46
            ? c - 55
            : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

function tooComplex(what: string): ApiError {
  return new ApiError(400, "too_complex", `the request body is not shaped like a report: ${what}`);
}

function notAnObject(kind: string): ApiError {
  return new ApiError(422, "invalid_report", "the report does not match schema version 1", [
    { path: "", message: `Invalid type: Expected Object but received ${kind}` },
  ]);
}

/**
 * Throws the ApiError a body deserves for its shape alone, or says what the parse step must fix. With
 * `partial`, `bytes` is only the start of a body (the first inflated bytes of a gzip upload): what it holds
 * is checked and its end is not an error. Malformed JSON is left for JSON.parse to report.
 */
export function checkShape(bytes: Uint8Array, partial = false, top: TopLevel = "object"): Shape {
  const b = bytes;
  const n = b.length;
  const shape: Shape = { loneSurrogates: false };
  let i = n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  while (i < n && isSpace(b[i])) i++;
  if (i >= n) return shape;
  const first = b[i] as number;
  if (first !== OPEN_OBJECT && top === "object-or-list" && first !== OPEN_ARRAY) return shape; // the route says why
  if (first !== OPEN_OBJECT && !(first === OPEN_ARRAY && top === "object-or-list")) {
    if (first === OPEN_ARRAY) {
      // Not a report whatever follows; only a leading run of `[` is looked at, to name it too deep.
      let run = 0;
      for (let k = i; k < n && run <= SHAPE_LIMITS.depth; k++) {
        if (b[k] === OPEN_ARRAY) run++;
        else if (!isSpace(b[k])) break;
      }
      if (run > SHAPE_LIMITS.depth) {
        throw new ApiError(
          400,
          "too_deep",
          `the request body nests deeper than ${SHAPE_LIMITS.depth} levels`,
        );
      }
      throw notAnObject("Array");
    }
    if (first === QUOTE) throw notAnObject("String");
    if ((first >= 0x30 && first <= 0x39) || first === 0x2d) throw notAnObject("Number");
    return shape; // null, true, false or garbage: JSON.parse and the schema say which
  }
  const { depth: maxDepth, keysPerObject, itemsPerArray, elements: maxElements } = SHAPE_LIMITS;
  // Per open container: commas seen, and whether it is an object.
  const commas = new Int32Array(maxDepth + 2);
  const isObject = new Uint8Array(maxDepth + 2);
  let depth = 0;
  let elements = 0;
  for (; i < n; i++) {
    const c = b[i] as number;
    if (c === QUOTE) {
      // A byte loop: report strings are short, and a native indexOf per string costs more than it saves.
      let j = i + 1;
      for (;;) {
        if (j >= n) return shape; // unterminated: JSON.parse reports it (or the rest is not here yet)
        const d = b[j] as number;
        if (d === QUOTE) break;
        if (d !== BACKSLASH) {
          j++;
          continue;
        }
        if (b[j + 1] !== 0x75) {
          j += 2; // \" \\ \n ...: the escaped byte is never a closing quote
          continue;
        }
        const unit = hex4(b, j + 2);
        if (unit >= 0xd800 && unit <= 0xdbff && b[j + 6] === BACKSLASH && b[j + 7] === 0x75) {
          const low = hex4(b, j + 8);
          if (low >= 0xdc00 && low <= 0xdfff) {
            j += 12;
            continue;
          }
          shape.loneSurrogates = true;
        } else if (unit >= 0xd800 && unit <= 0xdfff) {
          shape.loneSurrogates = true;
        }
        j += 6;
      }
      i = j;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) {
        throw new ApiError(400, "too_deep", `the request body nests deeper than ${maxDepth} levels`);
      }
      commas[depth] = 0;
      isObject[depth] = c === OPEN_OBJECT ? 1 : 0;
    } else if (c === 0x7d || c === 0x5d) {
      if (--depth < 0) return shape; // malformed: JSON.parse reports it
    } else if (c === 0x2c) {
      const seen = (commas[depth] ?? 0) + 1;
      commas[depth] = seen;
      if (++elements > maxElements) throw tooComplex(`more than ${maxElements} values in all`);
      if (isObject[depth]) {
        if (seen >= keysPerObject) throw tooComplex(`an object with more than ${keysPerObject} keys`);
      } else if (seen >= itemsPerArray) {
        throw tooComplex(`a list of more than ${itemsPerArray} items`);
      }
    } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      let end = i + 1;
      let exponent = c === 0x45 || c === 0x65;
      while (end < n && isNumberByte(b[end])) {
        if (b[end] === 0x45 || b[end] === 0x65) exponent = true;
        end++;
      }
      // Only an exponent or more than 300 digits can overflow a double.
      if ((exponent || end - i > 300) && (end < n || !partial)) {
        const text = new TextDecoder().decode(b.subarray(i, end));
        const value = Number(text);
        if (!Number.isNaN(value) && !Number.isFinite(value)) {
          throw new ApiError(422, "invalid_report", "the report does not match schema version 1", [
            { path: "", message: `Invalid number: ${text.slice(0, 40)} is not a finite number` },
          ]);
        }
      }
      i = end - 1;
    }
  }
  return shape;
}
