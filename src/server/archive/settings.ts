// The archive's settings from the flags and the environment (flag > RELEVO_ARCHIVE_* > AWS_* > default).
// Keys come from the standard AWS_* variables or a credentials file given by path, never from a flag.
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { intFlag, UsageError } from "../../shared/cli.ts";
import { errorMessage } from "../../shared/errors.ts";

export const CredentialsSchema = v.object({
  accessKeyId: v.pipe(v.string(), v.minLength(1)),
  secretAccessKey: v.pipe(v.string(), v.minLength(1)),
  sessionToken: v.optional(v.string()),
});
export type Credentials = v.InferOutput<typeof CredentialsSchema>;

export interface ArchiveSettings {
  bucket: string;
  /** Key prefix without leading or trailing "/", possibly empty. */
  prefix: string;
  endpoint?: string;
  region?: string;
  credentials: Credentials;
  /** Days older than this many days are archived; at least 1, so the current day never is. */
  afterDays: number;
  /** Daily run time in the store's day zone, minutes after midnight. */
  atMinutes: number;
  jitterMs: number;
  keepLocal: boolean;
  /** One S3 request (a part, a stat, a read-back) may take this long. */
  timeoutMs: number;
  /** Inside `serve`: the share of the time the archive works, idle the rest (ingest keeps the CPU). */
  duty: number;
  /** Also archive central logs past --logs-retention-days as daily NDJSON.gz (retention waits for it). */
  logs: boolean;
}

/** The flags as citty gives them (all strings but the boolean). */
export interface ArchiveFlags {
  "archive-url"?: string;
  "archive-endpoint"?: string;
  "archive-region"?: string;
  "archive-credentials-file"?: string;
  "archive-after-days"?: string;
  "archive-at"?: string;
  "archive-keep-local"?: boolean;
  "archive-timeout"?: string;
  "archive-jitter"?: string;
  "archive-duty"?: string;
  "archive-logs"?: boolean;
}

type Env = Record<string, string | undefined>;

/** s3://bucket/prefix → bucket and prefix; the bucket name checked as S3 names them. */
export function parseArchiveUrl(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  const bucket = match?.[1] ?? "";
  if (!match || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UsageError(`--archive-url must look like s3://bucket/prefix, got "${url}"`);
  }
  const prefix = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (prefix.split("/").some((part) => part === "." || part === "..")) {
    throw new UsageError("--archive-url: the prefix may not contain . or .. segments");
  }
  return { bucket, prefix };
}

function parseDuty(value: string): number {
  const percent = Number(value);
  if (!/^\d{1,3}$/.test(value) || percent < 5 || percent > 100) {
    throw new UsageError(`--archive-duty must be a percentage from 5 to 100, got "${value}"`);
  }
  return percent / 100;
}

function parseAt(value: string): number {
  const match = /^(\d{2}):(\d{2})$/.exec(value);
  const hours = Number(match?.[1]);
  const minutes = Number(match?.[2]);
  if (!match || hours > 23 || minutes > 59)
    throw new UsageError(`--archive-at must be HH:MM, got "${value}"`);
  return hours * 60 + minutes;
}

/** An AWS shared credentials file (INI): the [profile] section's keys. */
export function readCredentialsFile(path: string, profile: string): Credentials {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`--archive-credentials-file: cannot read ${path} (${errorMessage(error)})`);
  }
  const values: Record<string, string> = {};
  let section = "";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      section = header[1] ?? "";
      continue;
    }
    const pair = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    if (pair && section === profile) values[(pair[1] ?? "").toLowerCase()] = (pair[2] ?? "").trim();
  }
  const parsed = v.safeParse(CredentialsSchema, {
    accessKeyId: values.aws_access_key_id,
    secretAccessKey: values.aws_secret_access_key,
    sessionToken: values.aws_session_token || undefined,
  });
  if (!parsed.success) {
    throw new UsageError(
      `--archive-credentials-file: ${path} has no aws_access_key_id and aws_secret_access_key in [${profile}]`,
    );
  }
  return parsed.output;
}

function credentialsFrom(flags: ArchiveFlags, env: Env): Credentials {
  const file = flags["archive-credentials-file"] ?? env.RELEVO_ARCHIVE_CREDENTIALS_FILE;
  if (file) return readCredentialsFile(file, env.AWS_PROFILE || "default");
  const parsed = v.safeParse(CredentialsSchema, {
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    sessionToken: env.AWS_SESSION_TOKEN || undefined,
  });
  if (!parsed.success) {
    throw new UsageError(
      "the archive needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --archive-credentials-file",
    );
  }
  return parsed.output;
}

/** The archive settings, or null when no archive URL is set (the archive is off). */
export function archiveSettings(flags: ArchiveFlags, env: Env): ArchiveSettings | null {
  const url = flags["archive-url"] ?? env.RELEVO_ARCHIVE_URL;
  if (!url) {
    if (flags["archive-logs"]) throw new UsageError("--archive-logs needs --archive-url s3://bucket/prefix");
    return null;
  }
  const { bucket, prefix } = parseArchiveUrl(url);
  const endpoint = flags["archive-endpoint"] ?? env.RELEVO_ARCHIVE_ENDPOINT ?? env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(endpoint)) {
    throw new UsageError(`--archive-endpoint must be an http(s) URL, got "${endpoint}"`);
  }
  const keepEnv = env.RELEVO_ARCHIVE_KEEP_LOCAL;
  const logsEnv = env.RELEVO_ARCHIVE_LOGS;
  return {
    bucket,
    prefix,
    endpoint: endpoint || undefined,
    region: flags["archive-region"] ?? env.RELEVO_ARCHIVE_REGION ?? env.AWS_REGION ?? undefined,
    credentials: credentialsFrom(flags, env),
    afterDays:
      intFlag(
        "archive-after-days",
        flags["archive-after-days"] ?? env.RELEVO_ARCHIVE_AFTER_DAYS,
        1,
        100_000,
      ) ?? 7,
    atMinutes: parseAt(flags["archive-at"] ?? env.RELEVO_ARCHIVE_AT ?? "03:30"),
    jitterMs:
      (intFlag("archive-jitter", flags["archive-jitter"] ?? env.RELEVO_ARCHIVE_JITTER, 0, 86_400) ?? 900) *
      1000,
    keepLocal: flags["archive-keep-local"] ?? (keepEnv === "1" || keepEnv === "true"),
    timeoutMs:
      (intFlag("archive-timeout", flags["archive-timeout"] ?? env.RELEVO_ARCHIVE_TIMEOUT, 1, 3600) ?? 120) *
      1000,
    duty: parseDuty(flags["archive-duty"] ?? env.RELEVO_ARCHIVE_DUTY ?? "25"),
    logs: flags["archive-logs"] ?? (logsEnv === "1" || logsEnv === "true"),
  };
}
