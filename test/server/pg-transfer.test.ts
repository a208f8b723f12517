// relevo-server import (a data directory into PostgreSQL: idempotent, resumable, damaged lines left out) and
// relevo-server export (a day back out as day files), run as the CLI, byte for byte with the original files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../../src/server/app.ts";
import { openFileStore } from "../../src/server/store/file-store.ts";
import {
  databaseName,
  PG_PASSWORD,
  type PgCluster,
  postgresMissing,
  startPostgres,
} from "../helpers/postgres.ts";
import { sampleReport } from "../helpers/report.ts";
import { BUN, REPO, tempDir } from "../helpers/server.ts";

const missing = postgresMissing();
let pg: PgCluster;
beforeAll(async () => {
  if (!missing) pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.stop();
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([BUN, join(REPO, "src", "server", "cli.ts"), ...args], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, out, err };
}

/** A data directory with reports of three hosts over two days, written by the real file store. */
async function dataDir(): Promise<string> {
  const dir = tempDir();
  let now = new Date("2026-11-22T20:00:00Z");
  const store = await openFileStore({ dir, clock: () => now });
  const app = createApp({ store, version: "t", clock: () => now });
  for (let i = 0; i < 30; i++) {
    now = new Date(Date.UTC(2026, 10, 22, 20 + Math.floor(i / 5), i));
    const res = await app.request(
      "/upload",
      {
        method: "POST",
        body: JSON.stringify(sampleReport()),
        headers: { "content-type": "application/json" },
      },
      { ip: ["192.0.2.1", "192.0.2.2", "2001:db8::1"][i % 3] as string },
    );
    expect(res.status).toBe(201);
  }
  await store.close();
  return dir;
}

const dayFiles = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort();

describe.skipIf(missing !== null)(`import and export${missing ? ` (skipped: ${missing})` : ""}`, () => {
  test("import loads a data directory once however often it runs; export gives the same bytes back", async () => {
    const url = await pg.createDatabase(databaseName("x"));
    const source = await dataDir();
    const files = dayFiles(source);
    expect(files.length).toBe(6);
    // An import cut short: only some files, then the whole directory, which stores just the rest.
    const part = tempDir();
    for (const name of files.slice(0, 2)) copyFileSync(join(source, name), join(part, name));
    const first = await cli("import", "--data", part, "--database", url);
    expect(first.code).toBe(0);
    const whole = await cli("import", "--data", source, "--database", url);
    expect(whole.code).toBe(0);
    expect(whole.out).toMatch(/imported 6 day files: \d+ reports stored, \d+ there already/);
    const again = await cli("import", "--data", source, "--database", url);
    expect(again.out).toContain("imported 6 day files: 0 reports stored, 30 there already");
    for (const day of ["2026-11-22", "2026-11-23"]) {
      const out = tempDir();
      const exported = await cli("export", "--database", url, "--date", day, "--to", out);
      expect(exported.code).toBe(0);
      expect(exported.err).not.toContain(PG_PASSWORD);
      const names = dayFiles(out);
      expect(names).toEqual(files.filter((name) => name.includes(day)));
      for (const name of names) {
        expect(readFileSync(join(out, name), "utf8")).toBe(readFileSync(join(source, name), "utf8"));
      }
    }
  });

  test("a torn day file: its whole elements go in, the torn line is counted and left out", async () => {
    const url = await pg.createDatabase(databaseName("torn"));
    const source = await dataDir();
    const [name] = dayFiles(source) as [string];
    const text = readFileSync(join(source, name), "utf8");
    const lines = text.split("\n");
    const kept = lines.length - 4; // "[", elements..., "]", "" : cut inside the last element
    writeFileSync(
      join(source, name),
      `${lines.slice(0, kept).join("\n")}\n${(lines[kept] ?? "").slice(0, 50)}`,
    );
    const done = await cli("import", "--data", source, "--database", url);
    expect(done.code).toBe(0);
    expect(done.out).toContain("1 damaged lines left out");
  });

  test("bad arguments: a clear message and a non-zero exit", async () => {
    expect(
      (await cli("export", "--date", "2026-13-01", "--to", tempDir(), "--database", "postgres://x@h/d")).err,
    ).toContain("not a calendar day");
    const nowhere = await cli(
      "import",
      "--data",
      tempDir(),
      "--database",
      `postgres://u:${PG_PASSWORD}@127.0.0.1:1/d`,
    );
    expect(nowhere.code).not.toBe(0);
    expect(nowhere.err).toContain("cannot connect to postgres://u:***@127.0.0.1:1/d");
    expect(nowhere.err).not.toContain(PG_PASSWORD);
  });
});
