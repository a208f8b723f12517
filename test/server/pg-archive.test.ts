// The archive over PostgreSQL, against a real PostgreSQL and s3rver: a past day's partition becomes one
// object per host, byte for byte the file store's day file; the partition goes only once every object is
// verified; /query answers the same bytes and /files says "archive"; a bucket out of reach keeps the
// partition and records the failure; two servers never archive at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { SQL } from "bun";
import { createApp } from "../../src/server/app.ts";
import type { ArchiveSettings } from "../../src/server/archive/settings.ts";
import { openPgArchive } from "../../src/server/pg/archive.ts";
import { createSql } from "../../src/server/pg/connect.ts";
import { ARCHIVER_BUSY, ARCHIVER_LOCK_KEY } from "../../src/server/pg/day-archiver.ts";
import { migratePg } from "../../src/server/pg/migrate.ts";
import { PgReportStore } from "../../src/server/pg/report-store.ts";
import { PG_MIGRATIONS } from "../../src/server/pg/schema.ts";
import { dayFileName } from "../../src/server/store/day-file.ts";
import { openFileStore } from "../../src/server/store/file-store.ts";
import type { Store } from "../../src/server/store/types.ts";
import { databaseName, type PgCluster, postgresMissing, startPostgres } from "../helpers/postgres.ts";
import { sampleReport } from "../helpers/report.ts";
import { BUN, REPO, type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { KEYS, type S3Server, startS3 } from "./archive/_s3.ts";

const missing = postgresMissing() ?? (Bun.which("node") ? null : "node is needed to run s3rver");
let pg: PgCluster;
let s3: S3Server;

beforeAll(async () => {
  if (missing) return;
  pg = await startPostgres();
  s3 = await startS3(["relevo"]);
}, 60_000);
afterAll(async () => {
  await s3?.stop();
  await pg?.stop();
});

const IPS = ["192.0.2.1", "2001:db8::7"];
const PAST = "2026-01-10";
const PEER = { ip: "127.0.0.1" };

function settings(overrides: Partial<ArchiveSettings> = {}): ArchiveSettings {
  return {
    bucket: "relevo",
    prefix: `p${Math.random().toString(36).slice(2, 8)}`,
    endpoint: s3.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: KEYS.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY },
    afterDays: 7,
    atMinutes: 210,
    jitterMs: 0,
    keepLocal: false,
    timeoutMs: 20_000,
    duty: 1,
    logs: false,
    ...overrides,
  };
}

interface Setup {
  url: string;
  sql: SQL;
  store: PgReportStore;
  fileDir: string;
  setNow(iso: string): void;
  clock: () => Date;
  close(): Promise<void>;
}

/** A database and a file store with the same reports: four on PAST (two hosts) and one today. */
async function setup(): Promise<Setup> {
  let now = new Date(`${PAST}T09:00:00Z`);
  const clock = () => now;
  const url = await pg.createDatabase(databaseName("a"));
  const sql = createSql({ url, max: 4 });
  await migratePg(sql, PG_MIGRATIONS, clock());
  const store = new PgReportStore(sql, { clock });
  await store.open();
  const fileDir = tempDir("relevo-pgarchive-files-");
  const file = await openFileStore({ dir: fileDir, clock });
  const apps = [store, file].map((s: Store) => createApp({ store: s, version: "t", clock }));
  const post = async (i: number) => {
    const body = JSON.stringify(sampleReport({ host: { hostname: `h-ü-${i}`, fqdn: "f", ips: [] } }));
    for (const app of apps) {
      const res = await app.request(
        "/upload",
        { method: "POST", body, headers: { "content-type": "application/json" } },
        { ip: IPS[i % 2] as string },
      );
      expect(res.status).toBe(201);
    }
  };
  for (let i = 0; i < 4; i++) {
    now = new Date(Date.parse(`${PAST}T10:00:00Z`) + i * 60_000);
    await post(i);
  }
  now = new Date("2026-01-20T12:00:00Z");
  await store.partitions.ensureAround("2026-01-20");
  await post(0);
  await file.close();
  return {
    url,
    sql,
    store,
    fileDir,
    clock,
    setNow: (iso) => {
      now = new Date(iso);
    },
    async close() {
      await store.close();
      await sql.close();
    },
  };
}

async function partitionExists(sql: SQL, day: string): Promise<boolean> {
  const [row] = await sql`SELECT to_regclass(${`reports_${day.replaceAll("-", "")}`}) IS NOT NULL AS ok`;
  return Boolean(row?.ok);
}

describe.skipIf(missing !== null)(`archive over PostgreSQL${missing ? ` (skipped: ${missing})` : ""}`, () => {
  test("a past day is archived per host, its partition dropped; /query the same bytes, /files says archive", async () => {
    const s = await setup();
    try {
      const archive = await openPgArchive(settings(), s.sql, s.store, "utc", s.clock);
      const app = createApp({ store: archive.view, version: "t", clock: s.clock });
      const queries = [
        ...IPS.map((ip) => `/query?ip=${ip}&date=${PAST}`),
        `/query?ip=${IPS[0]}&date=${PAST}&limit=1`,
        `/query?ip=${IPS[1]}&date=${PAST}&from=${PAST}T10:02:00Z`,
      ];
      const before = await Promise.all(queries.map(async (q) => (await app.request(q, {}, PEER)).text()));
      expect(JSON.parse(before[0] as string)).toHaveLength(2);

      const result = await archive.archiver.run();
      const names = IPS.map((ip) => dayFileName(ip, PAST)).sort();
      expect(result.failed).toEqual([]);
      expect(result.archived.sort()).toEqual(names);
      expect(await partitionExists(s.sql, PAST)).toBe(false);
      expect(await partitionExists(s.sql, "2026-01-20")).toBe(true);

      const after = await Promise.all(queries.map(async (q) => (await app.request(q, {}, PEER)).text()));
      expect(after).toEqual(before);
      const files = (await (await app.request(`/files?date=${PAST}`, {}, PEER)).json()) as {
        files: { name: string; location?: string; reports: number }[];
      };
      expect(files.files.map((f) => [f.name, f.location, f.reports])).toEqual(
        names.map((name) => [name, "archive", 2]),
      );
      // Each object is the file store's own day file, compressed.
      for (const name of names) {
        const row = await archive.manifest.get(name);
        expect(row?.state).toBe("archived");
        const object = await s3
          .client("relevo")
          .file(row?.object_key as string)
          .arrayBuffer();
        expect(gunzipSync(new Uint8Array(object)).toString()).toBe(
          readFileSync(join(s.fileDir, name), "utf8"),
        );
      }
      // Today stays, and a second run finds nothing more.
      expect((await archive.archiver.run()).archived).toEqual([]);
      expect(archive.manifest.cached.counts().archived).toBe(2);
    } finally {
      await s.close();
    }
  }, 60_000);

  test("the bucket out of reach: the partition stays, the failure is recorded and retried later", async () => {
    const s = await setup();
    try {
      const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      const port = closed.port;
      closed.stop(true);
      const archive = await openPgArchive(
        settings({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 3000 }),
        s.sql,
        s.store,
        "utc",
        s.clock,
      );
      const result = await archive.archiver.run({ respectBackoff: true });
      expect(result.archived).toEqual([]);
      expect(result.stopped).toContain("cannot be reached");
      expect(await partitionExists(s.sql, PAST)).toBe(true);
      const failed = await archive.manifest.list("failed");
      expect(failed.map((row) => row.name).sort()).toEqual(IPS.map((ip) => dayFileName(ip, PAST)).sort());
      expect(failed[0]?.error).toContain("cannot be reached");
      expect(failed[0]?.attempts).toBe(1);
      expect(archive.manifest.cached.counts().failed).toBe(2);
      // Within the backoff a scheduled run leaves the day alone; the data still reads from the database.
      // (the empty partitions made ahead around it are due, and go without an object)
      expect((await archive.archiver.run({ respectBackoff: true })).chosen).not.toContain(PAST);
      expect(await partitionExists(s.sql, PAST)).toBe(true);
      const res = await createApp({ store: archive.view, version: "t", clock: s.clock }).request(
        `/query?ip=${IPS[0]}&date=${PAST}`,
        {},
        PEER,
      );
      expect(JSON.parse(await res.text())).toHaveLength(2);
    } finally {
      await s.close();
    }
  }, 60_000);

  test("two servers on one database: one archiver at a time, each day archived once", async () => {
    const s = await setup();
    const other = createSql({ url: s.url, max: 4 });
    const otherStore = new PgReportStore(other, { clock: s.clock });
    try {
      const shared = settings();
      const a = await openPgArchive(shared, s.sql, s.store, "utc", s.clock);
      const b = await openPgArchive(shared, other, otherStore, "utc", s.clock);
      // While another session holds the archiver's lock, a run does nothing.
      const holder = await other.reserve();
      await holder`SELECT pg_advisory_lock(${ARCHIVER_LOCK_KEY})`;
      const blocked = await a.archiver.run();
      expect(blocked.stopped).toBe(ARCHIVER_BUSY);
      expect(await partitionExists(s.sql, PAST)).toBe(true);
      await holder`SELECT pg_advisory_unlock(${ARCHIVER_LOCK_KEY})`;
      holder.release();
      // Both at once: the day goes once, to one of them.
      const [ra, rb] = await Promise.all([a.archiver.run(), b.archiver.run()]);
      expect([...ra.archived, ...rb.archived].sort()).toEqual(IPS.map((ip) => dayFileName(ip, PAST)).sort());
      expect(ra.failed).toEqual([]);
      expect(rb.failed).toEqual([]);
      const [runs] = await s.sql`SELECT count(*)::int AS n FROM archive_files WHERE state = 'archived'`;
      expect(runs?.n).toBe(2);
      expect(await partitionExists(s.sql, PAST)).toBe(false);
    } finally {
      await otherStore.close();
      await other.close();
      await s.close();
    }
  }, 60_000);

  test("archive status, verify and restore with --database; restore imports the day back", async () => {
    const s = await setup();
    const shared = settings();
    try {
      const archive = await openPgArchive(shared, s.sql, s.store, "utc", s.clock);
      const app = createApp({ store: archive.view, version: "t", clock: s.clock });
      const query = `/query?ip=${IPS[1]}&date=${PAST}`;
      const before = await (await app.request(query, {}, PEER)).text();
      expect((await archive.archiver.run()).archived).toHaveLength(2);
      const flags = [
        "--database",
        s.url,
        "--archive-url",
        `s3://relevo/${shared.prefix}`,
        "--archive-endpoint",
        s3.endpoint,
        "--archive-region",
        "us-east-1",
      ];
      const cli = async (...args: string[]) => {
        const proc = Bun.spawn([BUN, join(REPO, "src/server/cli.ts"), "archive", ...args], {
          stdout: "pipe",
          stderr: "pipe",
          env: { ...process.env, ...KEYS },
        });
        const [out, err] = await Promise.all([
          new Response(proc.stdout).text(),
          new Response(proc.stderr).text(),
        ]);
        return { code: await proc.exited, out, err };
      };
      const status = await cli("status", ...flags, "--json");
      expect(status.code).toBe(0);
      const answer = JSON.parse(status.out) as {
        archived: number;
        failed: unknown[];
        pending_days: string[];
      };
      expect(answer.archived).toBe(2);
      expect(answer.failed).toEqual([]);
      // (the command goes by the real clock, so the test's "today" is due by now)
      expect(answer.pending_days).toEqual(["2026-01-20"]);
      const verify = await cli("verify", ...flags, "--all");
      expect(verify.out).toContain("checked 2 object(s): 2 good, 0 bad");
      expect(verify.code).toBe(0);

      const bad = await cli("restore", ...flags, "--ip", "not-an-ip", "--date", PAST);
      expect(bad.code).not.toBe(0);
      expect(bad.err).toContain("--ip not-an-ip is not an IPv4 or IPv6 address");
      const restored = await cli("restore", ...flags, "--ip", IPS[1] as string, "--date", PAST);
      expect(restored.err).toBe("");
      expect(restored.out).toContain("2 stored now");
      expect(restored.code).toBe(0);
      expect(await partitionExists(s.sql, PAST)).toBe(true);
      expect(await (await app.request(query, {}, PEER)).text()).toBe(before);
      expect((await archive.manifest.get(dayFileName(IPS[1] as string, PAST)))?.state).toBe("restored");
      const again = await cli("restore", ...flags, "--ip", IPS[1] as string, "--date", PAST);
      expect(again.code).not.toBe(0);
      expect(again.err).toContain("restored already");
      // A restored day is not archived again.
      expect((await archive.archiver.run({ dryRun: true })).chosen).not.toContain(PAST);
    } finally {
      await s.close();
    }
  }, 90_000);

  test("serve --database --archive-url archives on its schedule; /files and /health say so", async () => {
    const s = await setup();
    const shared = settings();
    const credentials = join(tempDir(), "credentials");
    writeFileSync(
      credentials,
      `[default]\naws_access_key_id = ${KEYS.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${KEYS.AWS_SECRET_ACCESS_KEY}\n`,
      { mode: 0o600 },
    );
    let server: RunningServer | undefined;
    try {
      server = await startServer([
        "--database",
        s.url,
        "--archive-url",
        `s3://relevo/${shared.prefix}`,
        "--archive-endpoint",
        s3.endpoint,
        "--archive-region",
        "us-east-1",
        "--archive-jitter",
        "0",
        "--archive-credentials-file",
        credentials,
      ]);
      const running = server;
      // Never run before: the first run starts with the server.
      const deadline = Date.now() + 30_000;
      let files: { name: string; location?: string }[] = [];
      while (Date.now() < deadline) {
        const res = await fetch(`${running.url}/files?date=${PAST}`);
        files = ((await res.json()) as { files: typeof files }).files;
        if (files.length && files.every((f) => f.location === "archive")) break;
        await Bun.sleep(200);
      }
      expect(files.map((f) => [f.name, f.location])).toEqual(
        IPS.map((ip) => [dayFileName(ip, PAST), "archive"]).sort(),
      );
      expect(await partitionExists(s.sql, PAST)).toBe(false);
      let health = { archive: { archived: 0, failed: 0 } };
      while (Date.now() < deadline && health.archive.archived < 2) {
        health = (await (await fetch(`${running.url}/health`)).json()) as typeof health;
        await Bun.sleep(100);
      }
      expect(health.archive.failed).toBe(0);
      expect(health.archive.archived).toBeGreaterThanOrEqual(2);
      const res = await fetch(`${running.url}/query?ip=${IPS[0]}&date=${PAST}`);
      expect(JSON.parse(await res.text())).toHaveLength(2);
    } finally {
      await server?.stop();
      await s.close();
    }
  }, 90_000);

  test("a failure after some hosts' objects are verified keeps the whole day in its partition", async () => {
    const s = await setup();
    try {
      const archive = await openPgArchive(settings(), s.sql, s.store, "utc", s.clock);
      const steps: string[] = [];
      const result = await archive.archiver.run({
        onStep: (name, step) => {
          steps.push(`${name} ${step}`);
          // The second host's object is in the bucket and verified; then the process "dies".
          if (steps.length === 4) throw new Error("killed before the commit");
        },
      });
      expect(steps).toHaveLength(4);
      expect(result.archived).toEqual([]);
      expect(await partitionExists(s.sql, PAST)).toBe(true);
      expect(await archive.manifest.list("archived")).toEqual([]);
      const failed = await archive.manifest.list("failed");
      expect(failed.map((row) => row.error)).toEqual([
        expect.stringContaining("killed before the commit"),
        expect.stringContaining("killed before the commit"),
      ]);
      const files = (await (
        await createApp({ store: archive.view, version: "t", clock: s.clock }).request(
          `/files?date=${PAST}`,
          {},
          PEER,
        )
      ).json()) as { files: { location?: string; reports: number }[] };
      expect(files.files.map((f) => [f.location ?? "local", f.reports])).toEqual([
        ["local", 2],
        ["local", 2],
      ]);
      // The next run (no backoff) does the day over and takes it.
      expect((await archive.archiver.run()).archived).toHaveLength(2);
      expect(await partitionExists(s.sql, PAST)).toBe(false);
    } finally {
      await s.close();
    }
  }, 60_000);
});
