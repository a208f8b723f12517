// Faults injected under the store through its StoreFs: a full disk, a directory that cannot be written, an
// fsync that fails, and a write cut short in the middle of an append. Each goes through the HTTP app, so the
// answer a client gets (503 with the JSON error) is checked along with what is on disk.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../../src/server/app.ts";
import { prepareReport } from "../../src/server/intake.ts";
import { type FileStore, openFileStore } from "../../src/server/store/file-store.ts";
import { FaultyFs } from "../helpers/faulty-fs.ts";
import { jsonOf } from "../helpers/json.ts";
import { sampleReport } from "../helpers/report.ts";
import { tempDir } from "../helpers/server.ts";
import { checkDir, expectIntact } from "./helpers.ts";

const NOW = new Date("2026-11-23T12:00:00Z");
const IPS = ["192.0.2.10", "192.0.2.11", "2001:db8::5"];
const stores: FileStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
});

async function setup(dir = tempDir("relevo-fault-"), checkpointBytes?: number) {
  const fs = new FaultyFs();
  const store = await openFileStore({ dir, fs, clock: () => NOW, checkpointBytes });
  stores.push(store);
  const app = createApp({ store, version: "test", rateLimit: 0 });
  const acked = new Set<string>();
  let n = 0;
  /** Uploads one fresh report from the next IP in turn; remembers it when acknowledged. */
  const upload = async (ip = IPS[n++ % IPS.length] as string) => {
    const report = sampleReport();
    const res = await app.request(
      "/upload",
      { method: "POST", body: JSON.stringify(report), headers: { "content-type": "application/json" } },
      { ip },
    );
    const body = await jsonOf(res);
    if (res.status === 201 || res.status === 200) acked.add(report.report_id);
    return { status: res.status, body, id: report.report_id };
  };
  const health = async () =>
    jsonOf(await app.request("/health", {}, { ip: "127.0.0.1" })) as Promise<{
      status: string;
      store: { writable: boolean; problem?: string };
    }>;
  return { dir, fs, store, app, upload, health, acked };
}

function expect503(answer: { status: number; body: { error?: { code?: string; message?: string } } }) {
  expect(answer.status).toBe(503);
  expect(answer.body.error?.code).toBe("store_unavailable");
  expect(typeof answer.body.error?.message).toBe("string");
}

const dayFiles = (dir: string) => readdirSync(dir).filter((name) => name.endsWith(".json"));
const snapshot = (dir: string) =>
  new Map(dayFiles(dir).map((name) => [name, readFileSync(join(dir, name), "utf8")]));

describe("disk full (ENOSPC from a byte budget under the store)", () => {
  test("503 with a JSON error, what was stored is intact, uploads succeed once there is space", async () => {
    const { dir, fs, upload, acked } = await setup();
    for (let i = 0; i < 9; i++) expect((await upload()).status).toBe(201);
    const before = snapshot(dir);
    // Room for about half a report: each upload now writes part of its journal record or element, then fails.
    // Room for less than a journal record, or for the record but not the element after it.
    const element = JSON.stringify(sampleReport()).length + 100;
    let refused = 0;
    for (let i = 0; i < 12; i++) {
      fs.freeBytes = Math.round(element * (i % 2 ? 0.5 : 1.5));
      const answer = await upload();
      if (answer.status === 503) {
        expect503(answer);
        expect(answer.body.error.message).toContain("disk is full");
        refused++;
      } else expect(answer.status).toBe(201);
    }
    expect(refused).toBe(12);
    expect(fs.counts.injected).toBeGreaterThan(0);
    // Nothing that was there moved, byte for byte, and nothing half-written stayed.
    expect(snapshot(dir)).toEqual(before);
    expectIntact(dir, acked);
    fs.freeBytes = null;
    for (let i = 0; i < 6; i++) expect((await upload()).status).toBe(201);
    const check = expectIntact(dir, acked);
    expect([...check.counts.keys()].sort()).toEqual([...acked].sort());
    console.log(
      `disk full (injected): ${refused} uploads refused with 503, ${acked.size} acknowledged, lost ${check.lost}`,
    );
  });
});

describe("/health after a write the disk refused", () => {
  test("writable false with the reason while uploads get 503 disk full, true again after a write succeeds", async () => {
    const { fs, upload, health } = await setup();
    expect((await upload()).status).toBe(201);
    fs.freeBytes = 100;
    expect503(await upload());
    const h = await health();
    expect(h.status).toBe("degraded");
    expect(h.store.writable).toBe(false);
    expect(h.store.problem).toContain("disk is full");
    fs.freeBytes = null;
    expect((await upload()).status).toBe(201);
    expect((await health()).store.writable).toBe(true);
  });
});

describe("a data directory that cannot be written", () => {
  test("at start: 503 on upload, /health says writable false, and it recovers once writable", async () => {
    const first = await setup();
    for (let i = 0; i < 3; i++) await first.upload();
    await first.store.close();
    stores.length = 0;

    const fs = new FaultyFs();
    fs.unwritable = "EACCES";
    // The store retries opening at most once a second by its own clock, which the test moves on.
    let now = NOW.getTime();
    const store = await openFileStore({ dir: first.dir, fs, clock: () => new Date(now) });
    stores.push(store);
    const app = createApp({ store, version: "test", rateLimit: 0 });
    const post = () =>
      app.request(
        "/upload",
        {
          method: "POST",
          body: JSON.stringify(sampleReport()),
          headers: { "content-type": "application/json" },
        },
        { ip: "192.0.2.10" },
      );
    const health = await jsonOf(await app.request("/health", {}, { ip: "127.0.0.1" }));
    expect(health.status).toBe("degraded");
    expect(health.store.writable).toBe(false);
    expect(health.store.problem).toContain("not writable");
    // Right after start (the store retries opening at most once a second) and after that.
    for (const wait of [0, 0, 1100]) {
      now += wait;
      const res = await post();
      expect(res.status).toBe(503);
      expect((await jsonOf(res)).error.code).toBe("store_unavailable");
    }
    // What was stored is still served.
    const query = await app.request("/query?ip=192.0.2.10", {}, { ip: "127.0.0.1" });
    expect(query.status).toBe(200);
    fs.unwritable = null;
    now += 1100;
    expect((await post()).status).toBe(201);
    expect((await jsonOf(await app.request("/health", {}, { ip: "127.0.0.1" }))).store.writable).toBe(true);
    expect(checkDir(first.dir).broken).toEqual([]);
  });

  test("while running: 503 on upload and /health says writable false, nothing torn", async () => {
    const { dir, fs, upload, health, acked } = await setup();
    for (let i = 0; i < 4; i++) expect((await upload()).status).toBe(201);
    fs.unwritable = "EROFS";
    expect503(await upload());
    const h = await health();
    expect(h.status).toBe("degraded");
    expect(h.store.writable).toBe(false);
    fs.unwritable = null;
    expect((await upload()).status).toBe(201);
    expect((await health()).store.writable).toBe(true);
    expectIntact(dir, acked);
  });
});

describe("an fsync that fails (EIO)", () => {
  test("the upload is not acknowledged, the store fails closed until a restart, recovery keeps every ack", async () => {
    const { dir, fs, store, upload, health, acked } = await setup();
    for (let i = 0; i < 5; i++) expect((await upload()).status).toBe(201);
    fs.syncFault = { target: "journal", code: "EIO", times: 1 };
    // Several at once, so one failed group commit answers for a whole batch.
    const batch = await Promise.all(Array.from({ length: 6 }, () => upload()));
    for (const answer of batch) expect503(answer);
    const failedIds = batch.map((answer) => answer.id);
    // The fault is gone, but the store must not retry the fsync and acknowledge: fail closed.
    expect(fs.syncFault).toBeNull();
    for (let i = 0; i < 5; i++) expect503(await upload());
    const h = await health();
    expect(h.store.writable).toBe(false);
    expect(h.store.problem).toContain("fsync");
    const acknowledgedBefore = new Set(acked);
    expect(acknowledgedBefore.size).toBe(5);
    await store.close();
    stores.length = 0;

    // "Restart": a new store on the same directory with a healthy disk recovers and takes writes again.
    const again = await setup(dir);
    expect((await again.health()).store.writable).toBe(true);
    for (let i = 0; i < 5; i++) expect((await again.upload()).status).toBe(201);
    const check = expectIntact(dir, [...acknowledgedBefore, ...again.acked]);
    // The unacknowledged batch may or may not be there (its journal records reached the page cache), but
    // never twice and never torn; the client retries it and the day file dedupes.
    for (const id of failedIds) expect(check.counts.get(id) ?? 0).toBeLessThanOrEqual(1);
    console.log(
      `failed fsync: ${batch.length} uploads refused, ${5} more refused after it (fail closed), acknowledged lost ${check.lost}`,
    );
  });

  test("a day-file fsync failing at a checkpoint also fails the store closed", async () => {
    const { dir, fs, upload, health, acked } = await setup(undefined, 4096);
    fs.syncFault = { target: "day", code: "EIO", times: 1 };
    for (let i = 0; i < 4; i++) await upload();
    // The checkpoint runs after the acks; wait until it has failed.
    for (let i = 0; i < 50 && (await health()).store.writable; i++) await Bun.sleep(10);
    expect((await health()).store.writable).toBe(false);
    expect503(await upload());
    const store2dir = dir;
    for (const s of stores.splice(0)) await s.close();
    const again = await setup(store2dir);
    expect((await again.upload()).status).toBe(201);
    expectIntact(dir, [...acked, ...again.acked]);
  });
});

describe("ENOSPC in the middle of an append", () => {
  for (const partial of [1, 2, 3, 57, 700, 15_000]) {
    test(`the day-file write stops after ${partial} byte(s): cut back, ] restored, nothing partial reappears`, async () => {
      const { dir, fs, store, upload, acked } = await setup();
      for (let i = 0; i < 3; i++) expect((await upload(IPS[0])).status).toBe(201);
      const name = `${IPS[0]}_2026-11-23.json`;
      const before = readFileSync(join(dir, name), "utf8");
      fs.writeFault = { target: "day", partial, code: "ENOSPC" };
      const failed = await upload(IPS[0]);
      expect503(failed);
      expect(fs.writeFault).toBeNull();
      // The partial element is gone and the array closed again: byte for byte what was there.
      expect(readFileSync(join(dir, name), "utf8")).toBe(before);
      for (let i = 0; i < 4; i++) expect((await upload(IPS[0])).status).toBe(201);
      const check = expectIntact(dir, acked);
      expect(check.counts.has(failed.id)).toBe(false);
      // And after a restart (journal replay) no partial or refused record comes back.
      await store.close();
      stores.length = 0;
      const again = await setup(dir);
      const after = expectIntact(dir, acked);
      expect(after.counts.has(failed.id)).toBe(false);
      expect([...after.counts.keys()].sort()).toEqual([...acked].sort());
      expect((await again.upload(IPS[0])).status).toBe(201);
    });
  }

  for (const partial of [0, 4, 9, 120, 12_000]) {
    test(`the journal write stops after ${partial} byte(s): refused, and no torn record is replayed`, async () => {
      const { dir, fs, store, upload, acked } = await setup();
      for (let i = 0; i < 3; i++) expect((await upload()).status).toBe(201);
      const before = snapshot(dir);
      fs.writeFault = { target: "journal", partial, code: "ENOSPC" };
      const failed = await upload();
      expect503(failed);
      expect(snapshot(dir)).toEqual(before);
      for (let i = 0; i < 4; i++) expect((await upload()).status).toBe(201);
      await store.close();
      stores.length = 0;
      await setup(dir);
      const check = expectIntact(dir, acked);
      expect(check.counts.has(failed.id)).toBe(false);
      expect([...check.counts.keys()].sort()).toEqual([...acked].sort());
    });
  }

  test("a process crash right after a refused append: the journal replay brings back no partial record", async () => {
    // The day-file write fails midway; the store cuts back. Then the process dies without closing: the
    // journal segment still holds every acknowledged record, and replay must not revive the refused one.
    const dir = tempDir("relevo-fault-");
    const fs = new FaultyFs();
    const store = await openFileStore({ dir, fs, clock: () => NOW });
    const acked: string[] = [];
    const add = async () => {
      const report = sampleReport();
      await store.append(prepareReport(report), IPS[1] as string);
      acked.push(report.report_id);
    };
    for (let i = 0; i < 3; i++) await add();
    fs.writeFault = { target: "day", partial: 500, code: "ENOSPC" };
    const refused = sampleReport();
    await expect(store.append(prepareReport(refused), IPS[1] as string)).rejects.toThrow("disk is full");
    await add();
    // Abandon `store` (a crash): copy the directory as the page cache has it and recover the copy.
    const image = tempDir("relevo-fault-image-");
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || entry.name === "relevo.lock") continue;
      const from = join(entry.parentPath, entry.name);
      const to = join(image, from.slice(dir.length));
      await Bun.write(to, Bun.file(from));
    }
    stores.push(store);
    const recovered = await openFileStore({ dir: image, clock: () => NOW });
    stores.push(recovered);
    const check = expectIntact(image, acked);
    expect(check.counts.has(refused.report_id)).toBe(false);
    expect(check.counts.size).toBe(acked.length);
  });

  test("a failed append in the middle of a batch to one day file: the rest stored in order, replay agrees", async () => {
    // Day files are written after the batch's journal fsync, with offsets journaled as if every append of
    // the batch succeeds. The one that fails gets 503 and a cancel record; the ones after it still land.
    const dir = tempDir("relevo-fault-");
    const fs = new FaultyFs();
    let dayWrites = 0;
    const write = fs.write.bind(fs);
    fs.write = (fd, data, position) => {
      // Element writes start with the element (or its separator); journal records with a binary header.
      if (new TextDecoder().decode(data.subarray(0, 16)).includes('{"report_id"') && ++dayWrites === 3)
        fs.writeFault = { target: "day", partial: 300, code: "ENOSPC" };
      write(fd, data, position);
    };
    const store = await openFileStore({ dir, fs, clock: () => NOW });
    stores.push(store);
    const reports = Array.from({ length: 5 }, () => sampleReport());
    const send = (report: ReturnType<typeof sampleReport>) =>
      store.append(prepareReport(report), IPS[0] as string);
    // The first goes alone (the writer takes it at once); the rest, with repeats of #2 and #3, form one batch.
    const answers = await Promise.allSettled(
      [0, 1, 2, 3, 2, 3, 4].map((i) => send(reports[i] ?? sampleReport())),
    );
    const outcome = answers.map((a) => (a.status === "rejected" ? "503" : a.value.duplicate ? "dup" : "ok"));
    expect(outcome).toEqual(["ok", "ok", "503", "ok", "503", "dup", "ok"]);
    const kept = [0, 1, 3, 4].map((i) => reports[i]?.report_id ?? "");
    expect([...checkDir(dir).files.values()]).toEqual([kept]);
    // Crash now (the journal still holds every record and the cancel): the replay rebuilds the same file.
    const image = tempDir("relevo-fault-image-");
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || entry.name === "relevo.lock") continue;
      const from = join(entry.parentPath, entry.name);
      await Bun.write(join(image, from.slice(dir.length)), Bun.file(from));
    }
    const recovered = await openFileStore({ dir: image, clock: () => NOW });
    stores.push(recovered);
    expect([...expectIntact(image, kept).files.values()]).toEqual([kept]);
    // The store that saw the failure appends in the right place afterwards.
    await send(sampleReport());
    expect([...expectIntact(dir, kept).files.values()][0]?.length).toBe(5);
  });
});
