import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Migration } from "../../../src/server/db/migrations.ts";
import { schemaVersion } from "../../../src/server/db/migrations.ts";
import { MIGRATIONS } from "../../../src/server/db/schema.ts";
import { openStateDb, STATE_DB_FILE } from "../../../src/server/db/state-db.ts";
import { formatIsoMicros, parseIsoMicros } from "../../../src/shared/iso-time.ts";
import { tempDir } from "../../helpers/server.ts";

// Numbers may have gaps (features built side by side): the newest is the last one's.
const LATEST = MIGRATIONS.at(-1)?.version ?? 0;

const now = new Date("2026-12-01T00:00:00Z");

describe("openStateDb", () => {
  test("creates relevo.db with mode 0600 in WAL mode with synchronous=FULL, at the newest schema", () => {
    const dir = tempDir();
    const state = openStateDb(dir, { now });
    expect(state.migrated).toEqual(MIGRATIONS.map((m) => m.version));
    expect(state.db.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(state.db.query("PRAGMA synchronous").get()).toEqual({ synchronous: 2 });
    expect(schemaVersion(state.db)).toBe(LATEST);
    state.db.run("INSERT INTO logs (ts, received, service, level, message) VALUES (1, 1, 's', 20, 'm')");
    for (const file of [STATE_DB_FILE, `${STATE_DB_FILE}-wal`, `${STATE_DB_FILE}-shm`]) {
      expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    }
    state.close();
  });

  test("a second start migrates nothing and keeps the data", () => {
    const dir = tempDir();
    const first = openStateDb(dir, { now });
    first.db.run("INSERT INTO logs (ts, received, service, level, message) VALUES (1, 1, 's', 20, 'm')");
    first.close();
    const second = openStateDb(dir, { now });
    expect(second.migrated).toEqual([]);
    expect(second.db.query("SELECT count(*) AS n FROM logs").get()).toEqual({ n: 1 });
    second.close();
  });

  test("a new migration runs once, in order, recorded with its name", () => {
    const dir = tempDir();
    openStateDb(dir, { now }).close();
    const next: Migration = {
      version: LATEST + 1,
      name: "next",
      up: (db) => db.run("CREATE TABLE next_step (id TEXT PRIMARY KEY)"),
    };
    const state = openStateDb(dir, { now, migrations: [...MIGRATIONS, next] });
    expect(state.migrated).toEqual([next.version]);
    expect(
      state.db
        .query("SELECT name FROM schema_migrations ORDER BY version")
        .all()
        .map((r) => (r as { name: string }).name),
    ).toEqual([...MIGRATIONS.map((m) => m.name), "next"]);
    state.close();
  });

  test("a failing migration leaves the previous version and the start fails", () => {
    const dir = tempDir();
    openStateDb(dir, { now }).close();
    const broken: Migration = {
      version: LATEST + 1,
      name: "broken",
      up: (db) => {
        db.run("CREATE TABLE half (x)");
        db.run("THIS IS NOT SQL");
      },
    };
    expect(() => openStateDb(dir, { now, migrations: [...MIGRATIONS, broken] })).toThrow(/cannot be used/);
    const state = openStateDb(dir, { now });
    expect(schemaVersion(state.db)).toBe(LATEST);
    expect(state.db.query("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeNull();
    state.close();
  });

  test("a database from a newer server is refused", () => {
    const dir = tempDir();
    const state = openStateDb(dir, { now });
    state.db.run("PRAGMA user_version = 99");
    state.close();
    expect(() => openStateDb(dir, { now })).toThrow(/schema version 99, newer than this relevo-server knows/);
  });

  const broken: [string, (path: string) => void, RegExp][] = [
    [
      "a file that is not SQLite",
      (path) => writeFileSync(path, "this is not a database, just text\n".repeat(200)),
      /not an SQLite database/,
    ],
    ["a directory in its place", (path) => mkdirSync(path), /not a regular file/],
    [
      "damaged pages",
      (path) => {
        const db = new Database(path, { create: true });
        db.run("PRAGMA journal_mode = DELETE");
        db.run("CREATE TABLE t (x TEXT)");
        db.transaction(() => {
          for (let i = 0; i < 2000; i++) db.run("INSERT INTO t VALUES (?)", [`row ${i} ${"z".repeat(100)}`]);
        })();
        db.close();
        const bytes = readFileSync(path);
        bytes.fill(0xa5, 4096 * 3, 4096 * 6);
        writeFileSync(path, bytes);
      },
      /integrity check failed|malformed|cannot be used/,
    ],
  ];
  for (const [name, damage, message] of broken) {
    test(`${name}: the start fails with what to do, and the file is left as it was`, () => {
      const dir = tempDir();
      const path = join(dir, STATE_DB_FILE);
      damage(path);
      const before = statSync(path).isFile() ? readFileSync(path) : null;
      let error: unknown;
      try {
        openStateDb(dir, { now }).close();
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain("restore it from a backup");
      if (before) expect(readFileSync(path).equals(before)).toBe(true);
    });
  }
});

describe("parseIsoMicros", () => {
  const cases: [string, string | null][] = [
    ["2025-08-27T10:00:00Z", "2025-08-27T10:00:00.000Z"],
    ["2025-08-27T10:00:00.5Z", "2025-08-27T10:00:00.500Z"],
    ["2025-08-27T10:00:00.123456789Z", "2025-08-27T10:00:00.123456Z"],
    ["2025-08-27T12:30:00+02:30", "2025-08-27T10:00:00.000Z"],
    ["2025-08-27T05:00:00-0500", "2025-08-27T10:00:00.000Z"],
    ["2025-08-27T11:00:00+01", "2025-08-27T10:00:00.000Z"],
    ["2025-08-27 10:00:00", "2025-08-27T10:00:00.000Z"],
    ["2025-08-27T10:00", "2025-08-27T10:00:00.000Z"],
    ["2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"],
    ["2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"],
    ["1900-02-29T00:00:00Z", null],
    ["2025-02-29T00:00:00Z", null],
    ["2025-04-31T00:00:00Z", null],
    ["2025-13-01T00:00:00Z", null],
    ["2025-08-27T24:00:00Z", null],
    ["2025-08-27T10:60:00Z", null],
    ["2025-08-27T10:00:60Z", null],
    ["2025-08-27T10:00:00+24:00", null],
    ["2025-08-27", null],
    ["27/08/2025 10:00", null],
    ["2025-08-27T10:00:00Z ", null],
    ["0001-01-01T00:00:00+01:00", null],
    ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59.000Z"],
  ];
  for (const [text, want] of cases) {
    test(`${JSON.stringify(text)} -> ${want}`, () => {
      const micros = parseIsoMicros(text);
      expect(micros === null ? null : formatIsoMicros(micros)).toBe(want);
    });
  }
});
