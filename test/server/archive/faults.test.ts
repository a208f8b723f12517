// Archive faults, end to end with `relevo-server archive` and `serve` run from source as an operator runs
// them: the endpoint down, wrong credentials, a missing bucket, a timeout mid-upload, an object that reads
// back different, and the server killed mid-archive. Each keeps the local file, says so in one log line,
// shows in `archive status` and /health, and is retried (with a growing backoff) until it goes through.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStateDb } from "../../../src/server/db/state-db.ts";
import { sampleReport } from "../../helpers/report.ts";
import { BUN, freePort, REPO, startServer, tempDir } from "../../helpers/server.ts";
import { dayText, KEYS, type S3Server, startS3, startStandIn } from "./_s3.ts";

const CLI = join(REPO, "src", "server", "cli.ts");
const NAME = "10.0.0.5_2026-01-01.json";
let s3: S3Server;
/** The servers below read their keys from a credentials file, as from ~/.aws/credentials. */
let credentials = "";

beforeAll(async () => {
  s3 = await startS3(["relevo"]);
  credentials = join(tempDir("relevo-keys-"), "credentials");
  writeFileSync(
    credentials,
    `[other]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n[default]\naws_access_key_id = ${KEYS.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${KEYS.AWS_SECRET_ACCESS_KEY}\n`,
    { mode: 0o600 },
  );
});
afterAll(async () => {
  await s3.stop();
});

async function archiveCli(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([BUN, CLI, "archive", ...args], {
    env: { ...process.env, ...KEYS, ...env },
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

function dataWithOneDay(): string {
  const dir = tempDir("relevo-archive-fault-");
  writeFileSync(join(dir, NAME), dayText("10.0.0.5", "2026-01-01", 5));
  return dir;
}

const target = (endpoint: string, bucket = "relevo") => [
  "--archive-url",
  `s3://${bucket}/faults`,
  "--archive-endpoint",
  endpoint,
  "--archive-region",
  "us-east-1",
];

interface Status {
  pending: number;
  archived: number;
  failed: { name: string; error: string; attempts: number; retry_at: string }[];
}

async function status(dir: string): Promise<Status> {
  const result = await archiveCli(["status", "--data", dir, "--json"]);
  return JSON.parse(result.stdout) as Status;
}

/** The fault run: exit 1, one log line naming the cause, the file kept, the failure in status. */
async function expectFault(dir: string, args: string[], reason: RegExp): Promise<void> {
  const run = await archiveCli(["run", "--data", dir, ...args]);
  expect(run.code).toBe(1);
  const lines = run.stderr.split("\n").filter((line) => line.includes("kept locally"));
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(reason);
  expect(existsSync(join(dir, NAME))).toBe(true);
  const seen = await status(dir);
  expect(seen.failed.map((f) => f.name)).toEqual([NAME]);
  expect(seen.failed[0]?.error).toMatch(reason);
  expect(Date.parse(seen.failed[0]?.retry_at ?? "")).toBeGreaterThan(Date.now());
}

/** Once the fault is gone the next run archives the file and removes it. */
async function expectRecovery(dir: string): Promise<void> {
  const run = await archiveCli(["run", "--data", dir, ...target(s3.endpoint)]);
  expect(run.stdout).toContain("archived 1 of 1");
  expect(run.code).toBe(0);
  expect(existsSync(join(dir, NAME))).toBe(false);
  const seen = await status(dir);
  expect(seen.failed).toEqual([]);
  expect(seen.archived).toBe(1);
}

describe("archive faults", () => {
  test("the endpoint down", async () => {
    const dir = dataWithOneDay();
    await expectFault(dir, target(`http://127.0.0.1:${freePort()}`), /cannot be reached/);
    // A second failure backs off longer.
    await archiveCli(["run", "--data", dir, ...target(`http://127.0.0.1:${freePort()}`)]);
    expect((await status(dir)).failed[0]?.attempts).toBe(2);
    await expectRecovery(dir);
  }, 120_000);

  test("wrong credentials (a stand-in that checks them, as s3rver does not)", async () => {
    const dir = dataWithOneDay();
    const standIn = startStandIn("refuse");
    try {
      await expectFault(
        dir,
        target(standIn.endpoint),
        /refused the archive's credentials \(InvalidAccessKeyId/,
      );
    } finally {
      standIn.stop();
    }
    await expectRecovery(dir);
  }, 120_000);

  test("a missing bucket", async () => {
    const dir = dataWithOneDay();
    await expectFault(dir, target(s3.endpoint, "no-such-bucket"), /bucket no-such-bucket does not exist/);
    await expectRecovery(dir);
  }, 120_000);

  test("a timeout mid-upload", async () => {
    const dir = dataWithOneDay();
    const standIn = startStandIn("stall");
    try {
      await expectFault(dir, [...target(standIn.endpoint), "--archive-timeout", "1"], /timed out after 1 s/);
      expect(standIn.seen.some((line) => line.startsWith("PUT /relevo/faults/2026/01/01/"))).toBe(true);
    } finally {
      standIn.stop();
    }
    await expectRecovery(dir);
  }, 120_000);

  test("an object that reads back different", async () => {
    const dir = dataWithOneDay();
    const standIn = startStandIn("corrupt", s3.endpoint);
    try {
      await expectFault(dir, target(standIn.endpoint), /reads back different/);
    } finally {
      standIn.stop();
    }
    await expectRecovery(dir);
  }, 120_000);

  test("bad settings and bad input are refused with a clear message", async () => {
    const dir = dataWithOneDay();
    const bad = await archiveCli(["run", "--data", dir, "--archive-url", "http://bucket/x"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("--archive-url must look like s3://bucket/prefix");
    const noKeys = await archiveCli(["run", "--data", dir, ...target(s3.endpoint)], {
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
    });
    expect(noKeys.stderr).toContain("the archive needs credentials");
    const noKey = await archiveCli([
      "run",
      "--data",
      dir,
      "--archive-secret-key",
      "x",
      ...target(s3.endpoint),
    ]);
    expect(noKey.code).toBe(2);
    const ip = await archiveCli([
      "restore",
      "--data",
      dir,
      ...target(s3.endpoint),
      "--ip",
      "../etc",
      "--date",
      "2026-01-01",
    ]);
    expect(ip.code).not.toBe(0);
    expect(ip.stderr).toContain("is not an IPv4 or IPv6 address");
    const date = await archiveCli([
      "restore",
      "--data",
      dir,
      ...target(s3.endpoint),
      "--ip",
      "10.0.0.5",
      "--date",
      "2026-02-30",
    ]);
    expect(date.stderr).toContain("is not a real day");
    expect(existsSync(join(dir, NAME))).toBe(true);
  }, 60_000);

  test("/health shows a failing archive while ingest goes on; archive run refuses a served directory", async () => {
    const dir = dataWithOneDay();
    const standIn = startStandIn("refuse");
    const server = await startServer(
      [...target(standIn.endpoint), "--archive-jitter", "0", "--archive-credentials-file", credentials],
      dir,
    );
    try {
      let archive: { failed: number; problem?: string } | undefined;
      for (let i = 0; i < 100 && !archive?.failed; i++) {
        await Bun.sleep(100);
        archive = ((await (await fetch(`${server.url}/health`)).json()) as { archive?: typeof archive })
          .archive;
      }
      expect(archive?.failed).toBe(1);
      expect(archive?.problem).toContain("refused the archive's credentials");
      const upload = await fetch(`${server.url}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(sampleReport()),
      });
      expect(upload.status).toBe(201);
      expect(
        server
          .stderr()
          .split("\n")
          .filter((line) => line.includes("kept locally")).length,
      ).toBe(1);
      const busy = await archiveCli(["run", "--data", dir, ...target(s3.endpoint)]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain("in use by another relevo-server");
      expect((await status(dir)).failed[0]?.error).toContain("refused the archive's credentials");
    } finally {
      await server.stop();
      standIn.stop();
    }
    expect(existsSync(join(dir, NAME))).toBe(true);
  }, 60_000);

  test("the server killed mid-archive keeps the file; the next run starts it over", async () => {
    const dir = dataWithOneDay();
    const standIn = startStandIn("stall");
    const server = await startServer(
      [...target(standIn.endpoint), "--archive-jitter", "0", "--archive-credentials-file", credentials],
      dir,
    );
    try {
      await Promise.race([standIn.uploading, Bun.sleep(15_000)]);
      expect(standIn.seen.some((line) => line.startsWith("PUT "))).toBe(true);
      expect(await server.stop("SIGKILL")).not.toBe(0);
    } finally {
      await server.stop();
      standIn.stop();
    }
    expect(existsSync(join(dir, NAME))).toBe(true);
    const state = openStateDb(dir, { now: new Date() });
    const row = state.db.query("SELECT state FROM archive_files WHERE name = ?").get(NAME);
    state.close();
    expect(row).toBeNull();
    await expectRecovery(dir);
  }, 60_000);
});
