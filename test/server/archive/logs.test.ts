// The log archive (--archive-logs) against s3rver on 127.0.0.1: a whole day past retention goes to the bucket
// as NDJSON.gz (GET /logs' entries, by id), retention removes it only once recorded as archived, a failing
// bucket keeps the entries and records why, and a day is never uploaded twice.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { openObject } from "../../../src/server/archive/fetch-object.ts";
import { logObjectKey } from "../../../src/server/archive/log-days.ts";
import { openArchive } from "../../../src/server/archive/open.ts";
import { ArchiveSchedule } from "../../../src/server/archive/schedule.ts";
import type { ArchiveSettings } from "../../../src/server/archive/settings.ts";
import type { NewLogEntry } from "../../../src/server/logs/log-store.ts";
import { type OpenLogs, openLogs } from "../../../src/server/logs/open.ts";
import { type FileStore, openFileStore } from "../../../src/server/store/file-store.ts";
import { LogQuerySchema } from "../../../src/shared/logs.ts";
import { BUN, REPO, tempDir } from "../../helpers/server.ts";
import { AWS, KEYS, readBackWithTool, S3CMD, type S3Server, startS3, startStandIn } from "./_s3.ts";

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3(["relevo"]);
});
afterAll(async () => {
  await s3.stop();
});

const NOW = new Date("2026-03-15T12:00:00Z");
const OLD_DAY = "2026-02-03"; // 40 days before NOW: a whole day past 30 days' retention

function settings(overrides: Partial<ArchiveSettings> = {}): ArchiveSettings {
  return {
    bucket: "relevo",
    prefix: `l${Math.random().toString(36).slice(2, 8)}`,
    endpoint: s3.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: KEYS.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY },
    afterDays: 7,
    atMinutes: 210,
    jitterMs: 0,
    keepLocal: false,
    timeoutMs: 5_000,
    duty: 1,
    logs: true,
    ...overrides,
  };
}

function entry(message: string, ts: string, attributes: Record<string, unknown> | null = null): NewLogEntry {
  return {
    ts: Date.parse(ts) * 1000,
    service: "billing",
    level: 40,
    message,
    host: "web-1",
    attributes: attributes ? JSON.stringify(attributes) : null,
    entryId: null,
  };
}

interface Setup {
  dir: string;
  store: FileStore;
  logs: OpenLogs;
  open(overrides?: Partial<ArchiveSettings>): ReturnType<typeof openArchive>;
  count(): number;
  close(): Promise<void>;
}

/** Entries on the old day, one past retention on a day not yet whole (it must stay), and recent ones. */
async function setup(): Promise<Setup> {
  const dir = tempDir("relevo-logarchive-");
  const clock = () => NOW;
  const store = await openFileStore({ dir, clock });
  const logs = openLogs(dir, { retentionDays: 30, maxBytes: 0, clock });
  let held: ReturnType<typeof openArchive> | undefined;
  logs.store.holdRetention(() => held?.archiver.logDays?.holdMicros() ?? null);
  await logs.store.insert(
    [
      entry("disk full", `${OLD_DAY}T09:59:00Z`, { disk: "/var", ünï: [1, 2] }),
      entry("retry", `${OLD_DAY}T10:00:00Z`),
    ],
    new Date(`${OLD_DAY}T10:00:00Z`),
  );
  await logs.store.insert(
    [entry('quote " and \\n', `${OLD_DAY}T23:59:00Z`)],
    new Date(`${OLD_DAY}T23:59:59.999Z`),
  );
  await logs.store.insert([entry("partial day", "2026-02-13T06:00:00Z")], new Date("2026-02-13T06:00:00Z"));
  await logs.store.insert([entry("recent", "2026-03-14T06:00:00Z")], new Date("2026-03-14T06:00:00Z"));
  return {
    dir,
    store,
    logs,
    open(overrides = {}) {
      held = openArchive(settings(overrides), store, logs.db, "utc", clock, 30);
      return held;
    },
    count: () => (logs.db.query("SELECT count(*) AS n FROM logs").get() as { n: number }).n,
    async close() {
      await logs.close();
      await store.close();
    },
  };
}

/** The old day's entries as GET /logs answers them, oldest id first. */
function oldDayAnswer(logs: OpenLogs) {
  const query = v.parse(LogQuerySchema, {
    received_at_start: `${OLD_DAY}T00:00:00Z`,
    received_at_end: "2026-02-04T00:00:00Z",
    order: "asc",
  });
  return logs.store.query(query).logs;
}

describe("log archive", () => {
  test("a whole day past retention is archived as NDJSON.gz, verified, then trimmed; never twice", async () => {
    const t = await setup();
    try {
      const archive = t.open();
      const logDays = archive.archiver.logDays;
      expect(logDays).toBeDefined();
      // Retention holds everything from the oldest day not yet archived.
      expect(await t.logs.retention.runToEnd()).toBe(0);
      expect(t.count()).toBe(5);
      const expected = oldDayAnswer(t.logs);
      expect(expected.map((one) => one.message)).toEqual(["disk full", "retry", 'quote " and \\n']);

      const dry = await archive.archiver.run({ dryRun: true });
      expect(dry.logs?.chosen).toEqual([OLD_DAY]);
      expect(logDays?.rows.get(OLD_DAY)).toBeNull();

      const result = await archive.archiver.run();
      expect(result.chosen).toEqual([]);
      expect(result.logs).toEqual({ chosen: [OLD_DAY], archived: [OLD_DAY], failed: [] });
      const row = logDays?.rows.get(OLD_DAY);
      const key = logObjectKey(archive.bucket.settings.prefix, OLD_DAY);
      expect(key).toBe(`${archive.bucket.settings.prefix}/logs/2026/02/03/logs_2026-02-03.ndjson.gz`);
      expect(row).toMatchObject({ state: "archived", object_key: key, entries: 3, attempts: 0, error: null });

      const text = await new Response(await openObject(archive.bucket, key)).text();
      expect(text).toBe(`${expected.map((one) => JSON.stringify(one)).join("\n")}\n`);
      expect(
        text
          .trimEnd()
          .split("\n")
          .map((line) => JSON.parse(line)),
      ).toEqual(expected);
      // The temporary NDJSON is gone; the day files' manifest is untouched.
      expect(readdirSync(t.dir).filter((name) => name.includes("archive-logs"))).toEqual([]);
      expect(archive.manifest.counts()).toEqual({ archived: 0, failed: 0, restored: 0 });

      // Now retention removes the archived day, and only it: the partly-past day waits for its turn.
      expect(await t.logs.retention.runToEnd()).toBe(3);
      expect(t.count()).toBe(2);
      expect(oldDayAnswer(t.logs)).toEqual([]);

      const again = await archive.archiver.run();
      expect(again.logs).toEqual({ chosen: [], archived: [], failed: [] });
      expect(logDays?.rows.get(OLD_DAY)?.archived_at).toBe(row?.archived_at ?? -1);
    } finally {
      await t.close();
    }
  });

  test.skipIf(!AWS && !S3CMD)("the object reads back with awscli or s3cmd and gunzip", async () => {
    const t = await setup();
    try {
      const archive = t.open();
      const expected = oldDayAnswer(t.logs);
      await archive.archiver.run();
      const key = logObjectKey(archive.bucket.settings.prefix, OLD_DAY);
      const text = await readBackWithTool(s3.endpoint, "relevo", key);
      expect(
        text
          .trimEnd()
          .split("\n")
          .map((line) => JSON.parse(line)),
      ).toEqual(expected);
    } finally {
      await t.close();
    }
  });

  test("endpoint down, then credentials refused: the entries stay, the failure is recorded, then retried", async () => {
    const t = await setup();
    const standIn = startStandIn("refuse");
    try {
      const down = t.open({ endpoint: "http://127.0.0.1:9" });
      const failed = await down.archiver.run();
      expect(failed.logs?.failed.map((one) => one.date)).toEqual([OLD_DAY]);
      expect(failed.logs?.failed[0]?.error).toContain("cannot be reached");
      expect(down.archiver.logDays?.rows.get(OLD_DAY)).toMatchObject({ state: "failed", attempts: 1 });
      expect(await t.logs.retention.runToEnd()).toBe(0);
      expect(t.count()).toBe(5);
      // A scheduled run waits for the retry time; `archive run` tries now.
      expect((await down.archiver.run({ respectBackoff: true })).logs?.chosen).toEqual([]);

      const refused = t.open({ endpoint: standIn.endpoint });
      const again = await refused.archiver.run();
      expect(again.logs?.failed[0]?.error).toContain("refused the archive's credentials");
      const row = refused.archiver.logDays?.rows.get(OLD_DAY);
      expect(row).toMatchObject({ state: "failed", attempts: 2 });
      expect(row?.retry_at).toBeGreaterThan(NOW.getTime());
      const schedule = new ArchiveSchedule(
        refused.archiver,
        refused.manifest,
        refused.bucket.settings,
        "utc",
        () => NOW,
      );
      const health = schedule.health();
      expect(health).toMatchObject({ log_days_archived: 0, log_days_failed: 1 });
      expect(health.problem).toContain("refused the archive's credentials");
      expect(await t.logs.retention.runToEnd()).toBe(0);
      expect(t.count()).toBe(5);

      // The bucket back: the day goes, and only then retention removes it.
      const good = t.open();
      expect((await good.archiver.run()).logs?.archived).toEqual([OLD_DAY]);
      expect(good.archiver.logDays?.rows.get(OLD_DAY)).toMatchObject({ state: "archived", attempts: 0 });
      expect(await t.logs.retention.runToEnd()).toBe(3);
    } finally {
      standIn.stop();
      await t.close();
    }
  });

  test("without a retention there is no log archive; --archive-logs needs --archive-url", async () => {
    const t = await setup();
    try {
      const archive = openArchive(settings(), t.store, t.logs.db, "utc", () => NOW, 0);
      expect(archive.archiver.logDays).toBeUndefined();
      const { archiveSettings } = await import("../../../src/server/archive/settings.ts");
      expect(() => archiveSettings({ "archive-logs": true }, {})).toThrow(
        /--archive-logs needs --archive-url/,
      );
      const on = archiveSettings({ "archive-url": "s3://relevo/x" }, { ...KEYS, RELEVO_ARCHIVE_LOGS: "1" });
      expect(on?.logs).toBe(true);
    } finally {
      await t.close();
    }
  });
});

async function archiveCli(args: string[]) {
  const proc = Bun.spawn([BUN, join(REPO, "src", "server", "cli.ts"), "archive", ...args], {
    env: { ...process.env, ...KEYS },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}

test("archive run --dry-run lists the log days; a refused run shows in archive status; a good run archives", async () => {
  const dir = tempDir("relevo-logarchive-cli-");
  const received = new Date(Date.now() - 40 * 86_400_000);
  const date = received.toISOString().slice(0, 10);
  const logs = openLogs(dir, { retentionDays: 0, maxBytes: 0, clock: () => new Date() });
  await logs.store.insert([entry("old", received.toISOString())], received);
  await logs.close();
  const standIn = startStandIn("refuse");
  try {
    const target = (endpoint: string) => [
      "--data",
      dir,
      "--archive-url",
      "s3://relevo/cli",
      "--archive-endpoint",
      endpoint,
      "--archive-region",
      "us-east-1",
      "--archive-logs",
    ];
    const dry = await archiveCli(["run", "--dry-run", ...target(s3.endpoint)]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would archive the logs of 1 day(s)\n  logs ${date}\n`);

    const refused = await archiveCli(["run", ...target(standIn.endpoint)]);
    expect(refused.code).toBe(1);
    const lines = refused.stderr.split("\n").filter((line) => line.includes("retention waits"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`logs of ${date} kept`);
    const status = await archiveCli(["status", "--data", dir, "--json"]);
    expect(status.code).toBe(1);
    const seen = JSON.parse(status.stdout) as { log_days_failed: { date: string; error: string }[] };
    expect(seen.log_days_failed.map((one) => one.date)).toEqual([date]);
    expect(seen.log_days_failed[0]?.error).toContain("refused the archive's credentials");

    const good = await archiveCli(["run", ...target(s3.endpoint)]);
    expect(good.stdout).toContain("archived the logs of 1 of 1 day(s)");
    expect(good.code).toBe(0);
    const after = JSON.parse((await archiveCli(["status", "--data", dir, "--json"])).stdout) as {
      log_days_archived: number;
      log_days_failed: unknown[];
    };
    expect(after).toMatchObject({ log_days_archived: 1, log_days_failed: [] });
  } finally {
    standIn.stop();
  }
});
