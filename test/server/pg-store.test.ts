// The PostgreSQL report store against the file store, in process: the same reports on the same clock give
// byte-for-byte the same /query bodies (whole days, filtered, streamed), the same /files and /hosts; the
// schema's versions, partitions and the messages that hide the password.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { createApp } from "../../src/server/app.ts";
import { createSql, pgpassLookup, redactUrl } from "../../src/server/pg/connect.ts";
import { migratePg } from "../../src/server/pg/migrate.ts";
import { connectPg } from "../../src/server/pg/open.ts";
import { PgReportStore } from "../../src/server/pg/report-store.ts";
import { PG_MIGRATIONS } from "../../src/server/pg/schema.ts";
import { openFileStore } from "../../src/server/store/file-store.ts";
import type { Store } from "../../src/server/store/types.ts";
import {
  databaseName,
  PG_PASSWORD,
  type PgCluster,
  postgresMissing,
  startPostgres,
} from "../helpers/postgres.ts";
import { sampleReport } from "../helpers/report.ts";
import { tempDir } from "../helpers/server.ts";
import { makeTestCertificates, openssl } from "../helpers/tls.ts";

const missing = postgresMissing();
let pg: PgCluster;

beforeAll(async () => {
  if (!missing) pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.stop();
});

async function pgStore(clock: () => Date, pageRows?: number): Promise<{ store: PgReportStore; sql: SQL }> {
  const url = await pg.createDatabase(databaseName("s"));
  const sql = createSql({ url, max: 4 });
  await migratePg(sql, PG_MIGRATIONS, clock());
  const store = new PgReportStore(sql, { clock, ...(pageRows ? { pageRows } : {}) });
  await store.open();
  return { store, sql };
}

describe.skipIf(missing !== null)(`PostgreSQL store${missing ? ` (skipped: ${missing})` : ""}`, () => {
  test("the same reports give the same /query bytes, /files and /hosts as the file store", async () => {
    let now = new Date("2026-11-23T10:00:00.000Z");
    const clock = () => now;
    const file = await openFileStore({ dir: tempDir(), clock });
    // Small pages, so a day of 40 reports is streamed over several round trips.
    const { store: db, sql } = await pgStore(clock, 7);
    const apps = [file, db].map((store: Store) => createApp({ store, version: "t", clock }));
    try {
      const ips = ["192.0.2.1", "2001:db8::7", "192.0.2.1"];
      for (let i = 0; i < 40; i++) {
        now = new Date(Date.UTC(2026, 10, 23, 10, i));
        // Unicode, escapes and an unknown field: kept as sent.
        const report = sampleReport({ host: { hostname: `host-ü-${i}\u2028"q"`, fqdn: "f", ips: [] } });
        const body = JSON.stringify({ ...report, extra_field: { nested: [i, null, "\\"] } });
        for (const app of apps) {
          const res = await app.request(
            "/upload",
            { method: "POST", body, headers: { "content-type": "application/json" } },
            { ip: ips[i % ips.length] as string },
          );
          expect(res.status).toBe(201);
        }
      }
      const paths = [
        "/query?ip=192.0.2.1",
        "/query?ip=2001:db8::7&date=2026-11-23",
        "/query?ip=192.0.2.1&limit=3",
        "/query?ip=192.0.2.1&limit=100",
        "/query?ip=192.0.2.1&from=2026-11-23T10:05:00Z&to=2026-11-23T10:20:00Z",
        "/query?ip=192.0.2.1&from=2026-11-23T10:05:00Z&limit=2",
        "/query?ip=192.0.2.1&from=2026-11-24T00:00:00Z",
        "/query?ip=192.0.2.9",
        "/query?ip=192.0.2.1&date=2026-11-22",
        "/files",
        "/files?ip=192.0.2.1",
        "/hosts",
      ];
      for (const path of paths) {
        const [a, b] = await Promise.all(apps.map((app) => app.request(path, {}, { ip: "127.0.0.1" })));
        expect(b?.status).toBe(a?.status as number);
        expect(await b?.text()).toBe((await a?.text()) as string);
      }
    } finally {
      await file.close();
      await db.close();
      await sql.close();
    }
  });

  test("a retry after midnight is answered from yesterday's partition", async () => {
    let now = new Date("2026-11-23T23:59:59.000Z");
    const { store, sql } = await pgStore(() => now);
    try {
      const report = sampleReport();
      const prepared = { id: report.report_id, json: JSON.stringify(report), summary: {} as never };
      const first = await store.append({ ...prepared, summary: summaryOf() }, "192.0.2.5");
      now = new Date("2026-11-24T00:10:00.000Z");
      const again = await store.append({ ...prepared, summary: summaryOf() }, "192.0.2.5");
      expect(first).toMatchObject({ date: "2026-11-23", duplicate: false });
      expect(again).toEqual({ ...first, duplicate: true });
      expect(await store.newestDate("192.0.2.5")).toBe("2026-11-23");
    } finally {
      await store.close();
      await sql.close();
    }
  });

  test("partitions exist ahead; a whole day drops at once", async () => {
    const { store, sql } = await pgStore(() => new Date("2026-11-23T12:00:00Z"));
    try {
      const names = async () =>
        (
          (await sql`SELECT relname FROM pg_class WHERE relname LIKE 'reports_2026%' AND relkind = 'r' ORDER BY relname`) as Array<{
            relname: string;
          }>
        ).map((row) => row.relname);
      expect(await names()).toEqual([
        "reports_20261122",
        "reports_20261123",
        "reports_20261124",
        "reports_20261125",
      ]);
      await store.append({ id: Bun.randomUUIDv7(), json: "{}", summary: summaryOf() }, "192.0.2.8");
      expect(await store.listFiles()).toHaveLength(1);
      await store.partitions.drop("2026-11-23");
      expect(await names()).not.toContain("reports_20261123");
      expect(await store.listFiles()).toEqual([]);
      expect(await store.readDay("192.0.2.8", "2026-11-23")).toBeNull();
      // Dropped through another server (this one still thinks the day exists): made again on the next upload.
      const other = new PgReportStore(sql, { clock: () => new Date("2026-11-23T12:00:00Z") });
      await other.append({ id: Bun.randomUUIDv7(), json: "{}", summary: summaryOf() }, "192.0.2.8");
      await store.partitions.drop("2026-11-23");
      const again = await other.append(
        { id: Bun.randomUUIDv7(), json: "{}", summary: summaryOf() },
        "192.0.2.8",
      );
      expect(again.duplicate).toBe(false);
      expect(await store.listFiles()).toHaveLength(1);
    } finally {
      await store.close();
      await sql.close();
    }
  });

  test("servers migrating at once apply each step once; an older server refuses a newer schema", async () => {
    const url = await pg.createDatabase(databaseName("m"));
    const now = new Date();
    const clients = Array.from({ length: 4 }, () => createSql({ url, max: 2 }));
    try {
      const applied = await Promise.all(clients.map((sql) => migratePg(sql, PG_MIGRATIONS, now)));
      expect(applied.flat().sort()).toEqual(PG_MIGRATIONS.map((step) => step.version));
      const [first] = clients as [SQL];
      await first`INSERT INTO relevo_schema (version, name, applied_at) VALUES (99, 'from the future', now())`;
      const refused = await connectPg({ url }, now).catch((error: Error) => error);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toContain("schema version 99, newer than this relevo-server knows");
      expect((refused as Error).message).not.toContain(PG_PASSWORD);
    } finally {
      for (const sql of clients) await sql.close();
    }
  });

  test("a database that cannot be reached is named without its password", async () => {
    const url = `postgres://relevo:${PG_PASSWORD}@127.0.0.1:1/nothing`;
    const refused = await connectPg({ url }, new Date()).catch((error: Error) => error);
    expect((refused as Error).message).toContain(
      "cannot connect to postgres://relevo:***@127.0.0.1:1/nothing",
    );
    expect((refused as Error).message).not.toContain(PG_PASSWORD);
    expect(redactUrl(url)).not.toContain(PG_PASSWORD);
  });
});

describe.skipIf(missing !== null || !openssl)("TLS to PostgreSQL", () => {
  test("verify-full with the CA that signed the server's certificate connects; another CA is refused", async () => {
    const certs = await makeTestCertificates();
    const other = await makeTestCertificates();
    const tls = await startPostgres({
      files: { "server.pem": certs.cert, "server.key": certs.key },
      settings: { ssl: "on", ssl_cert_file: "../server.pem", ssl_key_file: "../server.key" },
    });
    try {
      const url = tls.url();
      const sql = await connectPg({ url, caFile: certs.caPath }, new Date());
      const [row] = await sql`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
      expect(row?.ssl).toBe(true);
      await sql.close();
      const refused = await connectPg({ url, caFile: other.caPath }, new Date()).catch(
        (error: Error) => error,
      );
      expect((refused as Error).message).toContain("cannot connect to");
      expect((refused as Error).message).not.toContain(PG_PASSWORD);
      // The suite's own cluster speaks no TLS: asking for it fails rather than falling back.
      const plain = await connectPg({ url: pg.url(), tls: "require" }, new Date()).catch(
        (error: Error) => error,
      );
      expect(plain).toBeInstanceOf(Error);
    } finally {
      await tls.stop();
    }
  });
});

describe("connection settings", () => {
  test("a pgpass line matches host, port, database and user, with * and escapes", () => {
    const file = "# comment\nother:5432:*:relevo:nope\ndb.example:*:inv:relevo:s\\:e\\\\cret\n";
    expect(pgpassLookup(file, { host: "db.example", port: "6432", database: "inv", user: "relevo" })).toBe(
      "s:e\\cret",
    );
    expect(
      pgpassLookup(file, { host: "db.example", port: "6432", database: "x", user: "relevo" }),
    ).toBeUndefined();
  });

  test("bad URLs and sslmodes are refused with the password hidden", () => {
    expect(() => createSql({ url: "mysql://u:pw@h/db" })).toThrow("postgres://user@host:5432/db");
    expect(() => createSql({ url: "postgres://u:pw@h/db?sslmode=sometimes" })).toThrow("sslmode=sometimes");
    expect(() => createSql({ url: "mysql://u:hunter2@h/db" })).not.toThrow("hunter2");
  });
});

function summaryOf() {
  return {
    ip: "",
    hostname: "h",
    fqdn: "h",
    os: { platform: "linux", name: "L", version: "1" },
    cpu_load_percent: 1,
    memory: { total_bytes: 1, available_bytes: 1 },
    users: [],
    process_count: 1,
    last_seen: "",
    last_report_id: "",
    agent_version: "1",
    agent_id: null,
    disk_used_percent: 0,
  };
}
