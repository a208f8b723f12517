// `relevo-server archive run [--dry-run] | status | verify | restore --ip IP --date D`: the S3 archive by
// hand. `run` and `restore` change the data directory, so they take its lock (the server must be stopped;
// a running server archives on its own schedule); `status` and `verify` only read relevo.db and the bucket.
import { readdirSync } from "node:fs";
import { type ArgsDef, defineCommand } from "citty";
import { intFlag, UsageError, writeStdout } from "../../shared/cli.ts";
import { setLogLevel } from "../../shared/log.ts";
import { lastArchivableDate, type RunResult } from "../archive/archiver.ts";
import { openBucket } from "../archive/bucket.ts";
import { LogDayRows } from "../archive/log-days.ts";
import { Manifest } from "../archive/manifest.ts";
import { openArchive } from "../archive/open.ts";
import { restoreDay, type VerifyResult, verifyArchive } from "../archive/restore.ts";
import { type ArchiveSettings, archiveSettings } from "../archive/settings.ts";
import { parseDay } from "../day.ts";
import { openStateDb } from "../db/state-db.ts";
import { parseIpParam } from "../ip.ts";
import { dayFileName, parseDayFileName } from "../store/day-file.ts";
import { openFileStore } from "../store/file-store.ts";
import { acquireLock } from "../store/lock.ts";
import { databaseArg, databaseUrl, withDatabase } from "./_database.ts";
import { archiveArgs } from "./_serve-args.ts";
import { pgArchiveRestore, pgArchiveRun, pgArchiveStatus, pgArchiveVerify } from "./archive-pg.ts";
import { dataDir } from "./token.ts";

const common = {
  data: { type: "string", default: "./data", description: "The server's data directory" },
  timezone: {
    type: "enum",
    options: ["utc", "local"],
    default: "utc",
    description: "Which date names the day files",
  },
  ...archiveArgs,
  ...databaseArg,
  json: { type: "boolean", description: "Print the result as JSON" },
  verbose: { type: "boolean", description: "Debug logs and stack traces" },
} as const satisfies ArgsDef;

type CommonArgs = {
  data: string;
  timezone: string;
  database?: string;
  json?: boolean;
  verbose?: boolean;
} & Parameters<typeof archiveSettings>[0];

function settingsOf(args: CommonArgs): ArchiveSettings {
  setLogLevel(args.verbose ? 4 : 3);
  const settings = archiveSettings(args, process.env);
  if (!settings)
    throw new UsageError("name the bucket: --archive-url s3://bucket/prefix (or RELEVO_ARCHIVE_URL)");
  return settings;
}

function openDb(dir: string) {
  return openStateDb(dir, { now: new Date() });
}

/**
 * A request the bucket never answered (a stalled multipart part) is given up at its timeout, but its socket
 * would keep the command alive: once the command is done, it exits within a second whatever is still open.
 */
function exitSoon(): void {
  setTimeout(() => process.exit(), 1000).unref();
}

async function print(args: { json?: boolean }, value: unknown, text: string): Promise<void> {
  await writeStdout(args.json ? `${JSON.stringify(value, null, 2)}\n` : text);
}

const run = defineCommand({
  meta: { name: "run", description: "Archive the closed days now, as the daily schedule does" },
  args: {
    ...common,
    "dry-run": { type: "boolean", description: "Only list what would be archived" },
    "logs-retention-days": {
      type: "string",
      default: "30",
      description: "With --archive-logs: the server's log retention (whole days past it are archived)",
    },
  },
  async run({ args }) {
    const settings = settingsOf(args);
    const retention = intFlag("logs-retention-days", args["logs-retention-days"], 0, 100_000) ?? 30;
    const zone = args.timezone as "utc" | "local";
    const url = databaseUrl(args);
    if (url) {
      try {
        const dryRun = args["dry-run"] ?? false;
        const result = await withDatabase(url, (sql) => pgArchiveRun(sql, settings, zone, dryRun));
        await printRun(args, settings, result);
      } finally {
        exitSoon();
      }
      return;
    }
    const dir = dataDir(args.data);
    const store = await openFileStore({ dir, dayZone: zone });
    const state = openDb(dir);
    try {
      const { archiver } = openArchive(settings, store, state.db, zone, () => new Date(), retention);
      const result = await archiver.run({ dryRun: args["dry-run"] });
      await printRun(args, settings, result);
    } finally {
      state.close();
      await store.close();
      exitSoon();
    }
  },
});

async function printRun(
  args: { json?: boolean; "dry-run"?: boolean },
  settings: ArchiveSettings,
  result: RunResult,
): Promise<void> {
  const lines = args["dry-run"]
    ? [`would archive ${result.chosen.length} day file(s)`, ...result.chosen.map((name) => `  ${name}`)]
    : [
        `archived ${result.archived.length} of ${result.chosen.length} day file(s)${settings.keepLocal ? " (local files kept)" : ""}`,
        ...result.failed.map((one) => `  failed ${one.name}: ${one.error}`),
        ...(result.stopped ? [`stopped: ${result.stopped}`] : []),
      ];
  const logs = result.logs;
  if (logs && args["dry-run"]) {
    lines.push(
      `would archive the logs of ${logs.chosen.length} day(s)`,
      ...logs.chosen.map((d) => `  logs ${d}`),
    );
  } else if (logs) {
    lines.push(
      `archived the logs of ${logs.archived.length} of ${logs.chosen.length} day(s)`,
      ...logs.failed.map((one) => `  failed logs ${one.date}: ${one.error}`),
    );
  }
  await print(args, result, `${lines.join("\n")}\n`);
  if (result.failed.length || result.stopped || logs?.failed.length) process.exitCode = 1;
}

const status = defineCommand({
  meta: { name: "status", description: "Pending, archived and failed day files, with the reasons" },
  args: common,
  async run({ args }) {
    setLogLevel(args.verbose ? 4 : 3);
    const afterDays =
      intFlag(
        "archive-after-days",
        args["archive-after-days"] ?? process.env.RELEVO_ARCHIVE_AFTER_DAYS,
        1,
        100_000,
      ) ?? 7;
    const url = databaseUrl(args);
    if (url) {
      const zone = args.timezone as "utc" | "local";
      const { last, answer } = await withDatabase(url, (sql) => pgArchiveStatus(sql, zone, afterDays));
      await print(args, answer, `${statusText(answer, last).join("\n")}\n`);
      if (answer.failed.length) process.exitCode = 1;
      return;
    }
    const dir = dataDir(args.data);
    const state = openDb(dir);
    try {
      const manifest = new Manifest(state.db);
      const last = lastArchivableDate(new Date(), args.timezone as "utc" | "local", afterDays);
      const local = new Set(readdirSync(dir).filter((name) => parseDayFileName(name)));
      const archived = manifest.list("archived");
      const failed = manifest.list("failed");
      const done = new Set([...archived, ...manifest.list("restored")].map((row) => row.name));
      const pending = [...local]
        .filter((name) => (parseDayFileName(name)?.date ?? "") <= last && !done.has(name))
        .sort();
      const run = manifest.lastRun();
      const logRows = new LogDayRows(state.db);
      const logFailed = logRows.list("failed");
      const answer = {
        pending: pending.length,
        archived: archived.length,
        archived_kept_locally: archived.filter((row) => local.has(row.name)).length,
        failed: failed.map((row) => ({
          name: row.name,
          error: row.error,
          attempts: row.attempts,
          retry_at: row.retry_at ? new Date(row.retry_at).toISOString() : null,
        })),
        last_run: run
          ? {
              ...run,
              started_at: new Date(run.started_at).toISOString(),
              finished_at: run.finished_at ? new Date(run.finished_at).toISOString() : null,
            }
          : null,
        pending_files: pending,
        log_days_archived: logRows.counts().archived,
        log_days_failed: logFailed.map((row) => ({
          date: row.date,
          error: row.error,
          attempts: row.attempts,
          retry_at: row.retry_at ? new Date(row.retry_at).toISOString() : null,
        })),
      };
      await print(args, answer, `${statusText(answer, last).join("\n")}\n`);
      if (failed.length || logFailed.length) process.exitCode = 1;
    } finally {
      state.close();
    }
  },
});

interface StatusAnswer {
  pending: number;
  archived: number;
  archived_kept_locally: number;
  failed: { name: string; error: string | null; attempts: number; retry_at: string | null }[];
  last_run: {
    started_at: string;
    archived: number;
    failed: number;
    error: string | null;
  } | null;
  /** With --archive-logs on a data directory: the log days archived and those that failed. */
  log_days_archived?: number;
  log_days_failed?: { date: string; error: string | null; attempts: number; retry_at: string | null }[];
}

function statusText(answer: StatusAnswer, last: string): string[] {
  const run = answer.last_run;
  return [
    `pending: ${answer.pending} (days up to ${last})`,
    `archived: ${answer.archived}${answer.archived_kept_locally ? ` (${answer.archived_kept_locally} also kept locally)` : ""}`,
    `failed: ${answer.failed.length}`,
    ...answer.failed.map(
      (row) => `  ${row.name}: ${row.error} (attempt ${row.attempts}, retry after ${row.retry_at})`,
    ),
    ...(answer.log_days_failed
      ? [
          `log days archived: ${answer.log_days_archived ?? 0}, failed: ${answer.log_days_failed.length}`,
          ...answer.log_days_failed.map(
            (row) =>
              `  logs ${row.date}: ${row.error} (attempt ${row.attempts}, retry after ${row.retry_at}; kept locally)`,
          ),
        ]
      : []),
    `last run: ${run ? `${run.started_at}, ${run.archived} archived, ${run.failed} failed${run.error ? `, stopped: ${run.error}` : ""}` : "never"}`,
  ];
}

const verify = defineCommand({
  meta: {
    name: "verify",
    description: "Re-check archived objects against the manifest (size, ETag, SHA-256)",
  },
  args: {
    ...common,
    all: { type: "boolean", description: "Check every object (default: a random sample)" },
    sample: { type: "string", default: "20", description: "How many objects to check without --all" },
  },
  async run({ args }) {
    const settings = settingsOf(args);
    const sample = args.all ? null : (intFlag("sample", args.sample, 1, 1_000_000) ?? 20);
    const url = databaseUrl(args);
    if (url) {
      try {
        await printVerify(args, await withDatabase(url, (sql) => pgArchiveVerify(sql, settings, sample)));
      } finally {
        exitSoon();
      }
      return;
    }
    const dir = dataDir(args.data);
    const state = openDb(dir);
    try {
      const result = await verifyArchive(openBucket(settings), new Manifest(state.db), sample, () =>
        Date.now(),
      );
      await printVerify(args, result);
    } finally {
      state.close();
      exitSoon();
    }
  },
});

async function printVerify(args: { json?: boolean }, result: VerifyResult): Promise<void> {
  const lines = [
    `checked ${result.checked} object(s): ${result.checked - result.bad.length} good, ${result.bad.length} bad`,
    ...result.bad.map((one) => `  ${one.name}: ${one.error}`),
  ];
  await print(args, result, `${lines.join("\n")}\n`);
  if (result.bad.length) process.exitCode = 1;
}

const restore = defineCommand({
  meta: { name: "restore", description: "Bring an archived day file back into the data directory" },
  args: {
    ...common,
    ip: { type: "string", required: true, description: "The host's address" },
    date: { type: "string", required: true, description: "The day, YYYY-MM-DD" },
  },
  async run({ args }) {
    const settings = settingsOf(args);
    const ip = parseIpParam(args.ip);
    if (!ip) throw new UsageError(`--ip ${args.ip} is not an IPv4 or IPv6 address`);
    const date = parseDay(args.date);
    if (!date) throw new UsageError(`--date ${args.date} is not a real day as YYYY-MM-DD`);
    const url = databaseUrl(args);
    if (url) {
      const name = dayFileName(ip, date);
      try {
        const { row, stored } = await withDatabase(url, (sql) => pgArchiveRestore(sql, settings, name));
        await print(
          args,
          { restored: name, bytes: row.bytes, reports: row.reports, stored },
          `restored ${name} into the database (${row.reports} reports, ${stored} stored now)\n`,
        );
      } finally {
        exitSoon();
      }
      return;
    }
    const dir = dataDir(args.data);
    const release = acquireLock(dir);
    const state = openDb(dir);
    try {
      const name = dayFileName(ip, date);
      const host = { directory: dir, addDay: () => {} };
      const row = await restoreDay(host, openBucket(settings), new Manifest(state.db), name);
      await print(
        args,
        { restored: name, bytes: row.bytes, reports: row.reports },
        `restored ${name} (${row.bytes} bytes, ${row.reports} reports)\n`,
      );
    } finally {
      state.close();
      release();
      exitSoon();
    }
  },
});

export default defineCommand({
  meta: { name: "archive", description: "The S3 archive: run now, status, verify, restore" },
  subCommands: { run, status, verify, restore },
});
