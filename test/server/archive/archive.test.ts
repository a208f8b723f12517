// The archive in process against s3rver on 127.0.0.1: archive then query gives the same bytes, /files says
// where each day is, the days that must stay local stay, a thousand days each removed only after its object
// verified, multipart, restore, verify, and the backoff of failed files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { createApp } from "../../../src/server/app.ts";
import { Archiver, type Step } from "../../../src/server/archive/archiver.ts";
import { objectKey } from "../../../src/server/archive/bucket.ts";
import type { Manifest } from "../../../src/server/archive/manifest.ts";
import { openArchive } from "../../../src/server/archive/open.ts";
import { restoreDay, verifyArchive } from "../../../src/server/archive/restore.ts";
import type { ArchiveSettings } from "../../../src/server/archive/settings.ts";
import { openStateDb, type StateDb } from "../../../src/server/db/state-db.ts";
import { prepareReport } from "../../../src/server/intake.ts";
import { type FileStore, openFileStore } from "../../../src/server/store/file-store.ts";
import { sampleReport } from "../../helpers/report.ts";
import { tempDir } from "../../helpers/server.ts";
import { AWS, dayText, KEYS, listWithTool, readBackWithTool, S3CMD, type S3Server, startS3 } from "./_s3.ts";

const PEER = { ip: "127.0.0.1" };
let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3(["relevo"]);
});
afterAll(async () => {
  await s3.stop();
});

function settings(overrides: Partial<ArchiveSettings> = {}): ArchiveSettings {
  return {
    bucket: "relevo",
    prefix: `t${Math.random().toString(36).slice(2, 8)}`,
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
  dir: string;
  store: FileStore;
  state: StateDb;
  manifest: Manifest;
  archive: ReturnType<typeof openArchive>;
  setNow(iso: string): void;
  close(): Promise<void>;
}

async function setup(
  options: { settings?: Partial<ArchiveSettings>; now?: string; dir?: string } = {},
): Promise<Setup> {
  const dir = options.dir ?? tempDir("relevo-archive-");
  let now = new Date(options.now ?? "2026-01-20T12:00:00Z");
  const clock = () => now;
  const store = await openFileStore({ dir, clock });
  const state = openStateDb(dir, { now: clock() });
  const archive = openArchive(settings(options.settings), store, state.db, "utc", clock);
  return {
    dir,
    store,
    state,
    manifest: archive.manifest,
    archive,
    setNow: (iso) => {
      now = new Date(iso);
    },
    async close() {
      await store.close();
      state.close();
    },
  };
}

async function appendAt(s: Setup, iso: string, ip: string, count: number): Promise<void> {
  s.setNow(iso);
  for (let i = 0; i < count; i++) await s.store.append(prepareReport(sampleReport()), ip);
}

describe("archive", () => {
  test("archived days answer /query with the same bytes and /files says location archive", async () => {
    const s = await setup();
    await appendAt(s, "2026-01-01T08:00:00Z", "10.0.0.5", 6);
    await appendAt(s, "2026-01-02T09:00:00Z", "10.0.0.5", 4);
    await appendAt(s, "2026-01-02T09:30:00Z", "fd00::7", 3);
    // Today's report closes the old days' handles, as the first report after midnight does.
    await appendAt(s, "2026-01-20T12:00:00Z", "10.0.0.5", 1);
    const app = createApp({ store: s.archive.view, version: "test" });
    const queries = [
      "/query?ip=10.0.0.5&date=2026-01-01",
      "/query?ip=10.0.0.5&date=2026-01-01&limit=2",
      "/query?ip=10.0.0.5&date=2026-01-01&from=2026-01-01T08:00:00.000Z&to=2026-01-01T08:00:00.000Z",
      "/query?ip=10.0.0.5&date=2026-01-02",
      "/query?ip=fd00::7&date=2026-01-02",
      "/query?ip=fd00::7",
    ];
    const before = await Promise.all(queries.map(async (q) => (await app.request(q, {}, PEER)).text()));
    const filesBefore = (await (await app.request("/files", {}, PEER)).json()) as {
      files: { name: string }[];
    };
    const local = readFileSync(join(s.dir, "10.0.0.5_2026-01-01.json"), "utf8");

    const result = await s.archive.archiver.run();
    expect(result.failed).toEqual([]);
    expect(result.archived).toEqual([
      "10.0.0.5_2026-01-01.json",
      "10.0.0.5_2026-01-02.json",
      "fd00--7_2026-01-02.json",
    ]);
    for (const name of result.archived) expect(existsSync(join(s.dir, name))).toBe(false);
    expect(existsSync(join(s.dir, "10.0.0.5_2026-01-20.json"))).toBe(true);

    const after = await Promise.all(
      queries.map(async (q) => {
        const response = await app.request(q, {}, PEER);
        expect(response.status).toBe(200);
        return response.text();
      }),
    );
    expect(after).toEqual(before);
    expect(JSON.parse(after[1] ?? "").length).toBe(2);
    const files = (await (await app.request("/files", {}, PEER)).json()) as {
      files: { name: string; location: string; bytes: number; reports: number }[];
    };
    expect(files.files.map((f) => f.name)).toEqual(filesBefore.files.map((f) => f.name));
    expect(files.files.map((f) => [f.name, f.location, f.reports])).toEqual([
      ["10.0.0.5_2026-01-01.json", "archive", 6],
      ["10.0.0.5_2026-01-02.json", "archive", 4],
      ["10.0.0.5_2026-01-20.json", "local", 1],
      ["fd00--7_2026-01-02.json", "archive", 3],
    ]);
    expect(files.files[0]?.bytes).toBe(Buffer.byteLength(local));
    const row = s.manifest.get("10.0.0.5_2026-01-01.json");
    expect(row?.object_key).toBe(
      objectKey(s.archive.bucket.settings.prefix, "10.0.0.5_2026-01-01.json", "2026-01-01"),
    );
    expect(row?.object_key).toEndWith("/2026/01/01/10.0.0.5_2026-01-01.json.gz");
    expect(row?.sha256).toBe(new Bun.CryptoHasher("sha256").update(local).digest("hex"));
    await s.close();
  });

  test.skipIf(!AWS && !S3CMD)(
    "awscli or s3cmd lists the object and gunzip gives the original day file",
    async () => {
      const s = await setup();
      const text = dayText("10.0.0.9", "2026-01-03", 50);
      writeFileSync(join(s.dir, "10.0.0.9_2026-01-03.json"), text);
      s.store.addDay("10.0.0.9_2026-01-03.json");
      const result = await s.archive.archiver.run();
      expect(result.archived).toEqual(["10.0.0.9_2026-01-03.json"]);
      const { prefix } = s.archive.bucket.settings;
      const key = `${prefix}/2026/01/03/10.0.0.9_2026-01-03.json.gz`;
      expect(await listWithTool(s3.endpoint, "relevo", prefix)).toContain(key);
      const back = await readBackWithTool(s3.endpoint, "relevo", key);
      expect(back).toBe(text);
      expect(JSON.parse(back)).toHaveLength(50);
      await s.close();
    },
    60_000,
  );

  test("never the current day, a day within --archive-after-days and its grace hour, or a day still open", async () => {
    const s = await setup({ settings: { afterDays: 1 } });
    await appendAt(s, "2026-01-18T23:00:00Z", "10.0.0.1", 1);
    await appendAt(s, "2026-01-19T22:00:00Z", "10.0.0.1", 1);
    // 00:30 on the 20th: the 19th ended half an hour ago, reports may still be landing in it.
    await appendAt(s, "2026-01-20T00:30:00Z", "10.0.0.1", 1);
    expect(s.archive.archiver.candidates(false).map((d) => d.name)).toEqual(["10.0.0.1_2026-01-18.json"]);
    // A day the writer still holds open is never taken, whatever its date.
    const held = await setup({ settings: { afterDays: 1 } });
    await appendAt(held, "2026-01-10T10:00:00Z", "10.0.0.2", 1);
    held.setNow("2026-01-20T12:00:00Z");
    expect(held.store.isOpenForAppend("10.0.0.2_2026-01-10.json")).toBe(true);
    expect(held.archive.archiver.candidates(false)).toEqual([]);
    await expect(held.store.removeDay("10.0.0.2_2026-01-10.json")).rejects.toThrow("open for appending");
    await s.close();
    await held.close();
  });

  test("--archive-keep-local copies and keeps; the next run has nothing to do", async () => {
    const s = await setup({ settings: { keepLocal: true } });
    writeFileSync(join(s.dir, "10.0.0.3_2026-01-05.json"), dayText("10.0.0.3", "2026-01-05", 3));
    s.store.addDay("10.0.0.3_2026-01-05.json");
    expect((await s.archive.archiver.run()).archived).toEqual(["10.0.0.3_2026-01-05.json"]);
    expect(existsSync(join(s.dir, "10.0.0.3_2026-01-05.json"))).toBe(true);
    expect(s.manifest.get("10.0.0.3_2026-01-05.json")?.state).toBe("archived");
    expect((await s.archive.archiver.run()).chosen).toEqual([]);
    await s.close();
  });

  test("a thousand days: each local file removed only after its object was verified and recorded", async () => {
    const dir = tempDir("relevo-archive-1000-");
    const names: string[] = [];
    const start = Date.parse("2023-01-01T00:00:00Z");
    for (let i = 0; i < 500; i++) {
      const date = new Date(start + i * 86_400_000).toISOString().slice(0, 10);
      for (const ip of ["10.1.0.1", "10.1.0.2"]) {
        const name = `${ip}_${date}.json`;
        writeFileSync(join(dir, name), dayText(ip, date, 2, 150));
        names.push(name);
      }
    }
    const s = await setup({ dir, now: "2026-01-20T12:00:00Z" });
    const steps = new Map<string, Step[]>();
    const onStep = (name: string, step: Step) => {
      const list = steps.get(name) ?? [];
      list.push(step);
      steps.set(name, list);
      if (step !== "removed") expect(existsSync(join(dir, name))).toBe(true);
      if (step === "removed") expect(s.manifest.get(name)?.state).toBe("archived");
    };
    const result = await s.archive.archiver.run({ onStep });
    expect(result.failed).toEqual([]);
    expect(result.archived.length).toBe(1000);
    for (const name of names) {
      expect(steps.get(name)).toEqual(["uploaded", "verified", "recorded", "removed"]);
      expect(existsSync(join(dir, name))).toBe(false);
    }
    expect(s.manifest.counts().archived).toBe(1000);
    const { prefix } = s.archive.bucket.settings;
    let listed = 0;
    let after: string | undefined;
    for (;;) {
      const page = await s3.client().list({ prefix: `${prefix}/`, maxKeys: 1000, startAfter: after });
      listed += page.contents?.length ?? 0;
      after = page.contents?.at(-1)?.key;
      if (!page.isTruncated) break;
    }
    expect(listed).toBe(1000);
    await s.close();
  }, 240_000);

  test("a day file bigger than one part goes multipart and verifies by read-back", async () => {
    const s = await setup();
    // Random text compresses little: about 7 MB of gzip, over a 5 MiB part.
    const random = Buffer.from(crypto.getRandomValues(new Uint8Array(5 * 1024 * 1024))).toString("base64");
    const line = `{"report_id":"0190a000-0000-7000-8000-000000000001","received_at":"2026-01-04T10:00:00.000Z","source_ip":"10.0.0.4","blob":"${random}"}`;
    writeFileSync(join(s.dir, "10.0.0.4_2026-01-04.json"), `[\n${line}\n]\n`);
    s.store.addDay("10.0.0.4_2026-01-04.json");
    const archiver = new Archiver({
      host: s.store,
      bucket: s.archive.bucket,
      manifest: s.manifest,
      zone: "utc",
      clock: () => new Date("2026-01-20T12:00:00Z"),
      partBytes: 5 * 1024 * 1024,
    });
    expect((await archiver.run()).archived).toEqual(["10.0.0.4_2026-01-04.json"]);
    const row = s.manifest.get("10.0.0.4_2026-01-04.json");
    expect(row?.gz_bytes).toBeGreaterThan(5 * 1024 * 1024);
    const app = createApp({ store: s.archive.view, version: "test" });
    expect(await (await app.request("/query?ip=10.0.0.4&date=2026-01-04", {}, PEER)).text()).toBe(
      `[\n${line}\n]\n`,
    );
    await s.close();
  }, 60_000);

  test("restore brings the day file back; verify finds an object changed in the bucket", async () => {
    const s = await setup();
    const texts = ["2026-01-06", "2026-01-07"].map((date) => {
      const text = dayText("10.0.0.6", date, 4);
      writeFileSync(join(s.dir, `10.0.0.6_${date}.json`), text);
      s.store.addDay(`10.0.0.6_${date}.json`);
      return text;
    });
    expect((await s.archive.archiver.run()).archived.length).toBe(2);
    expect(await verifyArchive(s.archive.bucket, s.manifest, null, Date.now)).toEqual({
      checked: 2,
      bad: [],
    });

    await restoreDay(s.store, s.archive.bucket, s.manifest, "10.0.0.6_2026-01-06.json");
    expect(readFileSync(join(s.dir, "10.0.0.6_2026-01-06.json"), "utf8")).toBe(texts[0] as string);
    expect(s.manifest.get("10.0.0.6_2026-01-06.json")?.state).toBe("restored");
    const listed = await s.archive.view.listFiles({ ip: "10.0.0.6" });
    expect(listed.map((f) => [f.name, f.location])).toEqual([
      ["10.0.0.6_2026-01-06.json", "local"],
      ["10.0.0.6_2026-01-07.json", "archive"],
    ]);
    // Restored days stay local: the next run leaves them.
    expect(s.archive.archiver.candidates(false)).toEqual([]);
    await expect(
      restoreDay(s.store, s.archive.bucket, s.manifest, "10.0.0.6_2026-01-06.json"),
    ).rejects.toThrow("is already in");
    await expect(
      restoreDay(s.store, s.archive.bucket, s.manifest, "10.0.0.6_2026-01-01.json"),
    ).rejects.toThrow("not in the archive manifest");

    const key = s.manifest.get("10.0.0.6_2026-01-07.json")?.object_key as string;
    await s3.client().write(key, gzipSync(Buffer.from("[\n]\n")));
    const checked = await verifyArchive(s.archive.bucket, s.manifest, null, Date.now);
    expect(checked.checked).toBe(1);
    expect(checked.bad[0]?.error).toContain("holds");
    await s.close();
  });

  test("a failed file keeps its local copy and waits out a growing backoff in scheduled runs", async () => {
    const s = await setup({ settings: { bucket: "no-such-bucket" } });
    writeFileSync(join(s.dir, "10.0.0.8_2026-01-08.json"), dayText("10.0.0.8", "2026-01-08", 2));
    writeFileSync(join(s.dir, "10.0.0.8_2026-01-09.json"), dayText("10.0.0.8", "2026-01-09", 2));
    s.store.addDay("10.0.0.8_2026-01-08.json");
    s.store.addDay("10.0.0.8_2026-01-09.json");
    const first = await s.archive.archiver.run();
    expect(first.stopped).toContain("bucket no-such-bucket does not exist");
    // The bucket is missing for every file: the run stops at the first instead of failing each.
    expect(first.failed.map((f) => f.name)).toEqual(["10.0.0.8_2026-01-08.json"]);
    expect(existsSync(join(s.dir, "10.0.0.8_2026-01-08.json"))).toBe(true);
    const row = s.manifest.get("10.0.0.8_2026-01-08.json");
    expect(row?.state).toBe("failed");
    const now = Date.parse("2026-01-20T12:00:00Z");
    expect(row?.retry_at).toBe(now + 10 * 60_000);
    expect(s.archive.archiver.candidates(true).map((d) => d.name)).toEqual(["10.0.0.8_2026-01-09.json"]);
    expect(s.archive.archiver.candidates(false).length).toBe(2);
    await s.archive.archiver.run();
    expect(s.manifest.get("10.0.0.8_2026-01-08.json")?.retry_at).toBe(now + 20 * 60_000);
    s.setNow("2026-01-20T12:21:00Z");
    expect(s.archive.archiver.candidates(true).length).toBe(2);
    await s.close();
  });
});
