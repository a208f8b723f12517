// Compress, hash and upload one day file in one pass: the file is read once, hashed (SHA-256 of the day
// file, MD5 of the gzip bytes for the ETag), gzipped off the main thread (node:zlib's async stream) and sent
// as a single PUT, or through the S3 writer as a multipart upload once the gzip passes one part.
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { createGzip } from "node:zlib";
import { ArchiveError, type Bucket, describeFailure, withTimeout } from "./bucket.ts";

/**
 * Measured on 25 KB reports (100 per day file): level 1 11.7x at 690 MB/s, 4 22x at 350 MB/s, 6 25x at
 * 250 MB/s, 9 28x at 135 MB/s. 6: half the size of 1, an eighth smaller than 4, still cheap once a day.
 */
export const GZIP_LEVEL = 6;
/** gzip output below this goes as one PUT (its ETag is the MD5); above, multipart in parts of this size. */
export const PART_BYTES = 8 * 1024 * 1024;
const NEWLINE = 10;

export interface Packed {
  /** The day file's size and SHA-256 (hex) as read. */
  bytes: number;
  sha256: string;
  /** Elements in the day file (newlines less the two of "[" and "]"). */
  reports: number;
  gzBytes: number;
  gzMd5: string;
  multipart: boolean;
}

export async function packAndUpload(
  bucket: Bucket,
  path: string,
  key: string,
  partBytes = PART_BYTES,
): Promise<Packed> {
  const before = statSync(path).size;
  const sha = createHash("sha256");
  const md5 = createHash("md5");
  let bytes = 0;
  let newlines = 0;
  let gzBytes = 0;
  const source = createReadStream(path, { highWaterMark: 256 * 1024 });
  const gzip = createGzip({ level: GZIP_LEVEL });
  source.on("data", (chunk) => {
    const data = chunk as Buffer;
    sha.update(data);
    bytes += data.length;
    for (let at = data.indexOf(NEWLINE); at !== -1; at = data.indexOf(NEWLINE, at + 1)) newlines++;
  });
  source.on("error", (error) => gzip.destroy(error));
  source.pipe(gzip);
  const { timeoutMs } = bucket.settings;
  const type = "application/gzip";
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let writer: ReturnType<ReturnType<Bucket["client"]["file"]>["writer"]> | null = null;
  try {
    for await (const out of gzip) {
      const data = out as Buffer;
      md5.update(data);
      gzBytes += data.length;
      if (writer) {
        writer.write(data);
        continue;
      }
      pending.push(data);
      pendingBytes += data.length;
      if (pendingBytes >= partBytes) {
        writer = bucket.client.file(key).writer({ partSize: partBytes, queueSize: 2, retry: 1, type });
        for (const part of pending) writer.write(part);
        pending = [];
      }
    }
    if (writer) await withTimeout(Promise.resolve(writer.end()), timeoutMs, `uploading ${key}`);
    else await putOnce(bucket, key, Buffer.concat(pending), type);
  } catch (error) {
    source.destroy();
    throw describeFailure(error, bucket, `uploading ${key}`);
  }
  if (bytes !== before || statSync(path).size !== before) {
    throw new Error(`${path} changed while it was archived (it is still being written?)`);
  }
  return {
    bytes,
    sha256: sha.digest("hex"),
    reports: Math.max(0, newlines - 2),
    gzBytes,
    gzMd5: md5.digest("hex"),
    multipart: writer !== null,
  };
}

/**
 * One PUT through a presigned URL: unlike the client's own write it can be aborted, so a stalled upload
 * ends at the timeout instead of holding a socket (and the process) open.
 */
async function putOnce(bucket: Bucket, key: string, body: Buffer, type: string): Promise<void> {
  const url = bucket.client.presign(key, { method: "PUT", type, expiresIn: 600 });
  const { timeoutMs } = bucket.settings;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "PUT",
      body,
      headers: { "content-type": type },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    if ((error as Error).name === "TimeoutError") {
      throw new ArchiveError(`uploading ${key} timed out after ${timeoutMs / 1000} s`, false);
    }
    throw error;
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP ${response.status}`;
    const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? `PUT answered ${response.status}`;
    throw Object.assign(new Error(message), { code });
  }
  await response.arrayBuffer();
}
