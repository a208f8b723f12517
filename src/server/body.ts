// Reads an upload body within limits: the raw bytes are capped while they arrive, gzip is inflated with a
// cap on its output (a 48 KB gzip bomb inflates to 50 MB), and nesting is bounded before anything walks it.
import { gunzipSync } from "node:zlib";
import { errorCode } from "../shared/errors.ts";
import { ApiError } from "./http-error.ts";

const MAX_DEPTH = 64;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function tooLarge(limit: number): ApiError {
  return new ApiError(413, "body_too_large", `the request body is larger than ${limit} bytes`);
}

/** The request body, read no further than `limit` bytes and for no longer than `timeoutMs`. */
export async function readCapped(request: Request, limit: number, timeoutMs = 30_000): Promise<Uint8Array> {
  const length = request.headers.get("content-length");
  const declared = Number(length ?? "0");
  if (declared > limit) throw tooLarge(limit);
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

export function gunzip(bytes: Uint8Array, limit: number): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: limit });
  } catch (error) {
    if (errorCode(error) === "ERR_BUFFER_TOO_LARGE") {
      throw new ApiError(413, "body_too_large", `the request body inflates to more than ${limit} bytes`);
    }
    throw new ApiError(400, "bad_gzip", "the request body is not valid gzip");
  }
}

/** Parses JSON text, refusing malformed input and nesting deeper than any report needs. */
export function parseJson(bytes: Uint8Array): unknown {
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(bytes));
  } catch (error) {
    const why = error instanceof TypeError ? "it is not valid UTF-8" : "it is not valid JSON";
    throw new ApiError(400, "malformed_json", `the request body could not be parsed: ${why}`);
  }
  if (depthExceeds(value, MAX_DEPTH)) {
    throw new ApiError(400, "too_deep", `the request body nests deeper than ${MAX_DEPTH} levels`);
  }
  return value;
}

/** Recursion stops at `max`, so a hostile million-level array cannot overflow the stack. */
function depthExceeds(value: unknown, max: number, depth = 1): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (depth > max) return true;
  if (Array.isArray(value)) {
    for (const child of value)
      if (typeof child === "object" && depthExceeds(child, max, depth + 1)) return true;
    return false;
  }
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === "object" && depthExceeds(child, max, depth + 1)) return true;
  }
  return false;
}
