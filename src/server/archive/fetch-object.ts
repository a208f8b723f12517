// Reading objects back: a presigned GET streamed and gunzipped (for /query, restore and verification), and
// the checks an object must pass before its local file may go: size, ETag where single-part, SHA-256.
import { createHash } from "node:crypto";
import { ArchiveError, type Bucket, describeFailure, withTimeout } from "./bucket.ts";

/** The object's day-file bytes, streamed as they arrive and decompressed. */
export async function openObject(bucket: Bucket, key: string): Promise<ReadableStream<Uint8Array>> {
  const url = bucket.client.presign(key, { method: "GET", expiresIn: 300 });
  let response: Response;
  // The answer must start within the timeout; the body may then take as long as its reader does.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), bucket.settings.timeoutMs);
  try {
    response = await fetch(url, { signal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted) {
      throw new ArchiveError(`reading ${key} timed out after ${bucket.settings.timeoutMs / 1000} s`, false);
    }
    throw describeFailure(error, bucket, `reading ${key}`);
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok || !response.body) {
    const text = await response.text().catch(() => "");
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP ${response.status}`;
    const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? `GET answered ${response.status}`;
    throw describeFailure(Object.assign(new Error(message), { code }), bucket, `reading ${key}`);
  }
  return response.body.pipeThrough(new DecompressionStream("gzip"));
}

/** SHA-256 and length of a stream, consumed whole; each read is under the request timeout. */
export async function digest(stream: ReadableStream<Uint8Array>, timeoutMs: number, what: string) {
  const sha = createHash("sha256");
  let bytes = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const next = await withTimeout(reader.read(), timeoutMs, what);
      if (next.done) break;
      sha.update(next.value);
      bytes += next.value.length;
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  return { sha256: sha.digest("hex"), bytes };
}

export interface Expected {
  key: string;
  bytes: number;
  sha256: string;
  gzBytes: number;
  /** Set when the upload was one PUT: the ETag must be this MD5. */
  gzMd5?: string;
}

/** Throws an ArchiveError unless the object in the bucket is the one described. */
export async function verifyObject(bucket: Bucket, expected: Expected): Promise<void> {
  const { key } = expected;
  let stat: Awaited<ReturnType<Bucket["client"]["stat"]>>;
  try {
    stat = await withTimeout(bucket.client.stat(key), bucket.settings.timeoutMs, `checking ${key}`);
  } catch (error) {
    throw describeFailure(error, bucket, `checking ${key}`);
  }
  if (stat.size !== expected.gzBytes) {
    throw new ArchiveError(
      `${key}: the bucket holds ${stat.size} bytes, ${expected.gzBytes} were sent`,
      false,
    );
  }
  const etag = stat.etag.replace(/"/g, "");
  if (expected.gzMd5 && etag !== expected.gzMd5) {
    throw new ArchiveError(`${key}: ETag ${etag} is not the MD5 of what was sent (${expected.gzMd5})`, false);
  }
  let back: { sha256: string; bytes: number };
  try {
    back = await digest(await openObject(bucket, key), bucket.settings.timeoutMs, `reading ${key} back`);
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError(`${key} does not read back as gzip (${(error as Error).message})`, false);
  }
  if (back.sha256 !== expected.sha256 || back.bytes !== expected.bytes) {
    throw new ArchiveError(
      `${key} reads back different from the day file (SHA-256 ${back.sha256.slice(0, 12)}…, ${back.bytes} bytes; expected ${expected.sha256.slice(0, 12)}…, ${expected.bytes} bytes)`,
      false,
    );
  }
}
