// The storage interface the HTTP layer talks to. The day-file layout is the export format whatever the
// backend; the embedded file store is the default, PostgreSQL or S3 can come behind the same calls.
import { errorCode, errorMessage } from "../../shared/errors.ts";
import type { HostSummary } from "../../shared/fleet-api.ts";

export interface Stored {
  ip: string;
  date: string;
  file: string;
  /** The report id was already in that day file: nothing new was stored. */
  duplicate: boolean;
}

export interface FileInfo {
  name: string;
  ip: string;
  date: string;
  bytes: number;
  reports: number;
  /** Where the day is kept: in the data directory, or only in the S3 archive. */
  location: "local" | "archive";
}

export type { HostSummary } from "../../shared/fleet-api.ts";

export interface DayFilter {
  /** received_at bounds, ISO 8601, inclusive. */
  from?: string;
  to?: string;
  /** Keep only the newest `limit` reports (still returned oldest first). */
  limit?: number;
}

export interface StoreHealth {
  writable: boolean;
  files: number;
  /** Damaged lines set aside (kept in *.damaged-<time> files) since start. */
  damaged_lines: number;
  /** Why the store refuses writes, when it does. */
  problem?: string;
}

/** A validated report, serialized once (without report_id, received_at, source_ip), with its summary. */
export interface PreparedReport {
  id: string;
  /** The report's JSON object text minus the fields the store writes itself. */
  json: string;
  /** ip and last_seen are filled in by the store. */
  summary: HostSummary;
}

/** Every call is async, so a database can sit behind the same interface. */
export interface Store {
  append(report: PreparedReport, sourceIp: string): Promise<Stored>;
  /** The day's reports as a JSON array body, or null when nothing is stored for that ip and date. */
  readDay(ip: string, date: string, filter?: DayFilter): Promise<ReadableStream<Uint8Array> | string | null>;
  /** The newest date that has a file for this ip. */
  newestDate(ip: string): Promise<string | null>;
  listFiles(filter?: { ip?: string; date?: string }): Promise<FileInfo[]>;
  hosts(): Promise<HostSummary[]>;
  health(): Promise<StoreHealth>;
  /** Finishes in-flight writes, checkpoints, releases the directory lock. */
  close(): Promise<void>;
}

/** The store cannot take writes now (disk full, read-only, failed fsync): the API answers 503. */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "StoreUnavailableError";
  }
}

/** The unavailable-store error for a file-system error: the codes that mean "the disk, not the client". */
export function unavailable(error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const code = errorCode(error);
  const why =
    code === "ENOSPC" || code === "EDQUOT"
      ? "the disk is full"
      : code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? "the data directory is not writable"
        : `the store could not write (${errorMessage(error)})`;
  return new StoreUnavailableError(why, code);
}

/** Another server holds the data directory. */
export class StoreLockedError extends Error {
  override name = "StoreLockedError";
}
