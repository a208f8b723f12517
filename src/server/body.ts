// Reads an upload body within limits: the raw bytes are capped while they arrive, gzip is inflated with a
// cap on its output (a 48 KB gzip bomb inflates to 50 MB), and the shape is checked (json-shape.ts) before
// JSON.parse builds anything.
import { constants, gunzipSync } from "node:zlib";
import { errorCode } from "../shared/errors.ts";
import { ApiError } from "./http-error.ts";
import { checkShape, type TopLevel } from "./json-shape.ts";

/**
 * Prefixes of a gzip body inflated first to check its shape: 256 bytes catch what compresses best (`[[[[`,
 * `["a",…]`), 16 KB what compresses less (700k distinct keys); each is inflated under the same output cap.
 */
const PEEKS = [256, 16 * 1024];
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function tooLarge(limit: number): ApiError {
  return new ApiError(413, "body_too_large", `the request body is larger than ${limit} bytes`);
}

/** The request body, read no further than `limit` bytes and for no longer than `timeoutMs`. */
export async function readCapped(request: Request, limit: number, timeoutMs = 30_000): Promise<Uint8Array> {
  const length = request.headers.get("content-length");
  const declared = Number(length ?? "0");
  if (declared > limit) {
    // Close rather than let Bun drain a body nobody will read.
    throw new ApiError(413, "body_too_large", `the request body is larger than ${limit} bytes`, undefined, {
      connection: "close",
    });
  }
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new ApiError(408, "body_timeout", `the request body did not arrive within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    // With a declared length the HTTP layer holds the body to exactly that size: read it in one go.
    if (length !== null && Number.isInteger(declared)) {
      return new Uint8Array(await Promise.race([request.arrayBuffer(), deadline]));
    }
    return await Promise.race([readStream(request, limit), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readStream(request: Request, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  // A fresh buffer of its own (Buffer.concat may hand out a slice of a shared pool).
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

export function gunzip(bytes: Uint8Array, limit: number, top: TopLevel = "object"): Uint8Array {
  peekShape(bytes, limit, top);
  try {
    return gunzipSync(bytes, { maxOutputLength: limit });
  } catch (error) {
    if (errorCode(error) === "ERR_BUFFER_TOO_LARGE") {
      throw new ApiError(413, "body_too_large", `the request body inflates to more than ${limit} bytes`);
    }
    throw new ApiError(400, "bad_gzip", "the request body is not valid gzip");
  }
}

/** A body that inflates to megabytes of `[[[[` or `["a",…]` is refused after its first compressed bytes. */
function peekShape(bytes: Uint8Array, limit: number, top: TopLevel): void {
  for (const size of PEEKS) {
    if (bytes.length <= size * 2) return; // the full inflate costs about as little
    let start: Uint8Array;
    try {
      start = gunzipSync(bytes.subarray(0, size), {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: limit,
      });
    } catch {
      return; // the full inflate says what is wrong (a bomb included)
    }
    checkShape(start, true, top);
  }
}

/** Parses JSON text after checking its shape; lone surrogates become U+FFFD so every day file stays valid. */
export function parseJson(bytes: Uint8Array, top: TopLevel = "object"): unknown {
  const shape = checkShape(bytes, false, top);
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(bytes));
  } catch (error) {
    const why = error instanceof TypeError ? "it is not valid UTF-8" : "it is not valid JSON";
    throw new ApiError(400, "malformed_json", `the request body could not be parsed: ${why}`);
  }
  return shape.loneSurrogates ? wellFormed(value) : value;
}

/** A copy with every string and key well-formed UTF-16 (depth is bounded by checkShape). */
function wellFormed(value: unknown): unknown {
  if (typeof value === "string") return value.toWellFormed();
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(wellFormed);
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    Object.defineProperty(out, key.toWellFormed(), {
      value: wellFormed(child),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Content-Type must be JSON and Content-Encoding identity or gzip (415 otherwise); whether it is gzip. */
export function jsonEncoding(request: Request, what: string): { gzip: boolean } {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError(415, "unsupported_media_type", `send ${what} as Content-Type: application/json`);
  }
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip") {
    throw new ApiError(
      415,
      "unsupported_encoding",
      `Content-Encoding ${encoding} is not supported; use gzip`,
    );
  }
  return { gzip: encoding === "gzip" };
}

/** A JSON body: its headers checked, read under the size and time caps, inflated, shape-checked, parsed. */
export async function readJsonBody(
  request: Request,
  what: string,
  caps: { limit: number; timeoutMs: number; top?: TopLevel },
): Promise<unknown> {
  const { gzip } = jsonEncoding(request, what);
  const raw = await readCapped(request, caps.limit, caps.timeoutMs);
  return parseJson(gzip ? gunzip(raw, caps.limit, caps.top) : raw, caps.top);
}
