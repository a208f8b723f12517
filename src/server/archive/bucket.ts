// The bucket as the archiver sees it: Bun's S3Client, object keys for day files, every request under a
// timeout, and S3 and network failures named in one line an operator can act on.
import { S3Client } from "bun";
import { errorCode, errorMessage } from "../../shared/errors.ts";
import type { ArchiveSettings } from "./settings.ts";

/** A failure of the archive, with whether the rest of the run is pointless (endpoint, keys, bucket). */
export class ArchiveError extends Error {
  override name = "ArchiveError";
  constructor(
    message: string,
    /** The whole bucket is out of reach: stop the run, every other file would fail the same way. */
    readonly fatal: boolean,
  ) {
    super(message);
  }
}

export interface Bucket {
  client: S3Client;
  settings: ArchiveSettings;
  /** s3://bucket/ for messages. */
  where: string;
}

export function openBucket(settings: ArchiveSettings): Bucket {
  const client = new S3Client({
    bucket: settings.bucket,
    endpoint: settings.endpoint,
    region: settings.region,
    accessKeyId: settings.credentials.accessKeyId,
    secretAccessKey: settings.credentials.secretAccessKey,
    sessionToken: settings.credentials.sessionToken,
  });
  return { client, settings, where: `s3://${settings.bucket}` };
}

/** prefix/YYYY/MM/DD/<ip>_<date>.json.gz */
export function objectKey(prefix: string, name: string, date: string): string {
  const [year, month, day] = date.split("-");
  const key = `${year}/${month}/${day}/${name}.gz`;
  return prefix ? `${prefix}/${key}` : key;
}

/** Rejects after `ms` with a timeout error (the request itself is left to fail on its own). */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ArchiveError(`${what} timed out after ${ms / 1000} s`, false)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

const CREDENTIALS = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "ExpiredToken",
  "InvalidToken",
]);
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ConnectionRefused",
  "ENOTFOUND",
  "ECONNRESET",
  "FailedToOpenSocket",
]);

/** Any failure of a request to the bucket as an ArchiveError saying what went wrong. */
export function describeFailure(error: unknown, bucket: Bucket, what: string): ArchiveError {
  if (error instanceof ArchiveError) return error;
  const code = errorCode(error) ?? "";
  const message = errorMessage(error);
  const endpoint = bucket.settings.endpoint ?? "the AWS endpoint";
  if (code === "NoSuchBucket")
    return new ArchiveError(`bucket ${bucket.settings.bucket} does not exist`, true);
  if (CREDENTIALS.has(code)) {
    return new ArchiveError(`${endpoint} refused the archive's credentials (${code}: ${message})`, true);
  }
  if (UNREACHABLE.has(code) || /Unable to connect|connection refused|ECONNREFUSED/i.test(message)) {
    return new ArchiveError(`${endpoint} cannot be reached (${code || message})`, true);
  }
  return new ArchiveError(`${what} failed (${code ? `${code}: ` : ""}${message})`, false);
}
