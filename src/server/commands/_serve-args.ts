// The flags of `relevo-server serve`, in one place: `install` passes most of them on to the service.
import type { ArgsDef } from "citty";

/** The S3 archive (issue 16): also taken by `relevo-server archive ...`. Credentials never go here. */
export const archiveArgs = {
  "archive-url": {
    type: "string",
    description: "Archive closed days to s3://bucket/prefix (env RELEVO_ARCHIVE_URL)",
  },
  "archive-endpoint": {
    type: "string",
    description:
      "S3-compatible endpoint URL (MinIO, Ceph, R2...; env RELEVO_ARCHIVE_ENDPOINT or AWS_ENDPOINT_URL)",
  },
  "archive-region": { type: "string", description: "S3 region (env RELEVO_ARCHIVE_REGION or AWS_REGION)" },
  "archive-credentials-file": {
    type: "string",
    description: "AWS credentials file to read the keys from (default: the AWS_* variables)",
  },
  "archive-after-days": { type: "string", description: "Archive days older than this many days (default 7)" },
  "archive-at": {
    type: "string",
    description: "Daily archive time HH:MM in --timezone, jittered (default 03:30)",
  },
  "archive-keep-local": { type: "boolean", description: "Copy to the archive but keep the local files" },
  "archive-logs": {
    type: "boolean",
    description:
      "Also archive central logs past --logs-retention-days as daily NDJSON.gz; retention waits for it (env RELEVO_ARCHIVE_LOGS)",
  },
  "archive-timeout": { type: "string", description: "Seconds one S3 request may take (default 120)" },
  "archive-jitter": {
    type: "string",
    description: "Up to this many seconds added to --archive-at (default 900)",
  },
  "archive-duty": {
    type: "string",
    description:
      "Percent of the time a scheduled run may work, idle the rest, so ingest keeps the CPU (default 25)",
  },
} as const satisfies ArgsDef;

export const serveArgs = {
  host: { type: "string", default: "127.0.0.1", description: "Address to listen on" },
  port: { type: "string", default: "5000", description: "TCP port (0 picks a free one)" },
  data: { type: "string", default: "./data", description: "Directory of the day files" },
  fsync: {
    type: "enum",
    options: ["always", "never"],
    default: "always",
    description: "always: durable before the answer; never: faster, unsafe",
  },
  "max-body": {
    type: "string",
    default: String(8 * 1024 * 1024),
    description: "Largest report in bytes, after gzip too",
  },
  timezone: {
    type: "enum",
    options: ["utc", "local"],
    default: "utc",
    description: "Which date names the day files",
  },
  "trust-proxy": {
    type: "string",
    description: "Comma-separated proxy IPs whose X-Forwarded-For is believed",
  },
  "next-report-in": { type: "string", description: "Seconds agents should wait before their next report" },
  // citty reads `--no-auth` as `auth: false`; a flag named "no-auth" would never be set.
  auth: {
    type: "boolean",
    default: true,
    description: "Ask for tokens",
    negativeDescription: "Serve without tokens even off loopback (on purpose only)",
  },
  "tls-cert": { type: "string", description: "PEM certificate for HTTPS" },
  "tls-key": { type: "string", description: "PEM private key for HTTPS" },
  "rate-limit": {
    type: "string",
    default: "100",
    description: "Requests/s per source address and per token (0: off)",
  },
  "max-uploads": {
    type: "string",
    default: "256",
    description: "Uploads in progress before new ones get 503",
  },
  "body-timeout": { type: "string", default: "30", description: "Seconds a request body may take to arrive" },
  // Central logs (relevo.db).
  "logs-retention-days": {
    type: "string",
    default: "30",
    description: "Delete log entries received longer ago than this many days (0 keeps everything)",
  },
  "logs-max-bytes": {
    type: "string",
    default: "0",
    description: "Delete the oldest log entries while relevo.db uses more than this (0: no bound)",
  },
  // PostgreSQL instead of the data directory (several servers behind a load balancer on one database).
  database: {
    type: "string",
    description:
      "postgres://user@host:5432/db: keep reports, logs, agents and tokens there (or RELEVO_DATABASE_URL; password from the URL, PGPASSWORD or a PGPASSFILE)",
  },
  "database-tls": {
    type: "enum",
    options: ["disable", "prefer", "require", "verify-ca", "verify-full"],
    description: "TLS to PostgreSQL (default: the URL's sslmode, else none)",
  },
  "database-ca": {
    type: "string",
    description: "PEM CA file that signed PostgreSQL's certificate (verify-full)",
  },
  "database-statement-timeout": {
    type: "string",
    default: "10",
    description: "Seconds any one database statement may run before it is cancelled",
  },
  // Operations: metrics and alerts.
  "metrics-public": {
    type: "boolean",
    default: false,
    description: "Serve /metrics without a token (for a scraper on a private network)",
  },
  "metrics-per-host": {
    type: "string",
    default: "0",
    description: "Export per-host series for at most this many hosts (0: none; labels per host are costly)",
  },
  alerts: { type: "string", description: "Alert rules and webhooks, YAML or JSON (see README, Alerts)" },
  ...archiveArgs,
  verbose: { type: "boolean", description: "Debug logs and stack traces" },
} as const satisfies ArgsDef;
