// GET /hosts paged, sorted and filtered on the server, and GET /api/hosts/{ip}/series, on the real app over a
// real store: every bad parameter is a 400 that names it, and the unpaged answer stays what it was.
import { afterEach, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { createApp } from "../../src/server/app.ts";
import { scanDay } from "../../src/server/fleet/day-series.ts";
import { type FileStore, openFileStore } from "../../src/server/store/file-store.ts";
import { ErrorBodySchema } from "../../src/shared/api.ts";
import type { HostPage, SeriesAnswer } from "../../src/shared/fleet-api.ts";
import { writeBusyDay, writeSyntheticFleet } from "../helpers/fleet-data.ts";
import { jsonOf } from "../helpers/json.ts";
import { sampleReport } from "../helpers/report.ts";
import { tempDir } from "../helpers/server.ts";

const NOW = new Date("2026-11-23T12:00:00Z");
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function fleet(hosts = 200) {
  const dir = tempDir();
  writeSyntheticFleet(dir, hosts, NOW);
  writeBusyDay(dir, "10.9.0.1", "2026-11-22", 288, 5);
  writeBusyDay(dir, "10.9.0.1", "2026-11-21", 30, 5);
  const store = await openFileStore({ dir, clock: () => NOW });
  stores.push(store);
  const app = createApp({ store, version: "test", clock: () => NOW });
  return async <T = HostPage>(path: string, status = 200): Promise<T> => {
    const res = await app.request(path, {}, { ip: "127.0.0.1" });
    const body = await jsonOf(res);
    expect(res.status, JSON.stringify(body)).toBe(status);
    return body as T;
  };
}

describe("GET /hosts with paging", () => {
  test("without a paging parameter the whole list comes as before, with the fullest disk", async () => {
    const get = await fleet(20);
    const all = await get<{ count: number; hosts: { ip: string; disk_used_percent: number | null }[] }>(
      "/hosts",
    );
    expect(all.count).toBe(21);
    expect(Object.keys(all)).toEqual(["count", "hosts"]);
    expect(all.hosts.find((h) => h.ip === "10.20.0.3")?.disk_used_percent).toBe(((3 * 71) % 100) as number);
  });

  test("pages follow each other without overlap, and the counts cover the whole fleet", async () => {
    const get = await fleet(200);
    const first = await get("/hosts?limit=50&sort=ip");
    const second = await get("/hosts?limit=50&offset=50&sort=ip");
    expect(first).toMatchObject({ count: 50, total: 201, offset: 0, limit: 50, silent_after_s: 900 });
    expect(first.counts.hosts).toBe(201);
    // Every tenth synthetic host is two hours silent, and so is the busy host (its newest report is a day old).
    expect(first.counts.silent).toBe(21);
    expect(first.counts.os.reduce((sum, os) => sum + os.count, 0)).toBe(201);
    const ips = [...first.hosts, ...second.hosts].map((h) => h.ip);
    expect(new Set(ips).size).toBe(100);
    expect(ips.slice(0, 3)).toEqual(["10.9.0.1", "10.20.0.0", "10.20.0.1"]);
  });

  test("sorts on every column, both ways", async () => {
    const get = await fleet(60);
    const cpu = await get("/hosts?sort=cpu&order=desc&limit=60");
    const loads = cpu.hosts.map((h) => h.cpu_load_percent);
    expect(loads).toEqual([...loads].sort((a, b) => b - a));
    for (const sort of [
      "hostname",
      "os",
      "memory",
      "disk",
      "users",
      "processes",
      "agent_version",
      "last_seen",
    ]) {
      const up = await get(`/hosts?sort=${sort}&limit=1000`);
      const down = await get(`/hosts?sort=${sort}&order=desc&limit=1000`);
      expect(up.total).toBe(61);
      expect(up.hosts[0]?.ip).not.toBe(down.hosts[0]?.ip);
    }
  });

  test("search, OS and state filters narrow the rows; the counts stay the fleet's", async () => {
    const get = await fleet(200);
    const db = await get("/hosts?q=DB-0001&limit=100");
    expect(db.hosts.map((h) => h.hostname).sort()).toEqual(["db-00013", "db-00019"]);
    const ubuntu = await get("/hosts?os=Ubuntu&limit=1000");
    expect(ubuntu.total).toBe(50);
    expect(ubuntu.hosts.every((h) => h.os.name === "Ubuntu")).toBe(true);
    const silent = await get("/hosts?state=silent&limit=1000");
    expect(silent.total).toBe(21);
    expect(silent.hosts.every((h) => h.silent)).toBe(true);
    expect(silent.counts.hosts).toBe(201);
    const byIp = await get("/hosts?q=10.20.0.17&sort=ip&limit=50");
    expect(byIp.hosts.map((h) => h.ip)).toEqual([
      "10.20.0.17",
      "10.20.0.170",
      "10.20.0.171",
      "10.20.0.172",
      "10.20.0.173",
      "10.20.0.174",
      "10.20.0.175",
      "10.20.0.176",
      "10.20.0.177",
      "10.20.0.178",
      "10.20.0.179",
    ]);
  });

  test("bad paging parameters are a 400 that names each one", async () => {
    const get = await fleet(5);
    for (const [query, path] of [
      ["limit=0", "limit"],
      ["limit=1001", "limit"],
      ["limit=abc", "limit"],
      ["offset=-1", "offset"],
      ["sort=color", "sort"],
      ["order=up", "order"],
      ["state=dead", "state"],
      ["limit=5&bogus=1", "bogus"],
      [`q=${"x".repeat(300)}`, "q"],
    ]) {
      const body = await get<unknown>(`/hosts?${query}`, 400);
      const error = v.parse(ErrorBodySchema, body).error;
      expect(error.code).toBe("bad_parameters");
      expect(error.details?.map((d) => d.path)).toContain(path as string);
    }
  });
});

describe("GET /api/hosts/{ip}/series", () => {
  test("a day's numbers, one per report, without sending the day", async () => {
    const get = await fleet(1);
    const series = await get<SeriesAnswer>(
      "/api/hosts/10.9.0.1/series?date=2026-11-22&fields=cpu.load_percent,processes.total,disks.max_used_percent",
    );
    expect(series).toMatchObject({ ip: "10.9.0.1", date: "2026-11-22", reports: 288 });
    expect(series.t).toHaveLength(288);
    expect((series.t[1] ?? 0) - (series.t[0] ?? 0)).toBe(300);
    expect(series.values["cpu.load_percent"]?.[0]).toBe(50);
    expect(series.values["processes.total"]?.[1]).toBe(6);
    expect(series.values["disks.max_used_percent"]?.[0]).toBeCloseTo(12.19, 1);
    expect(Object.keys(series.values)).toEqual([
      "cpu.load_percent",
      "processes.total",
      "disks.max_used_percent",
    ]);
  });

  test("defaults to the newest day and every field; max_points averages into buckets", async () => {
    const get = await fleet(1);
    const newest = await get<SeriesAnswer>("/api/hosts/10.9.0.1/series");
    expect(newest.date).toBe("2026-11-22");
    expect(Object.keys(newest.values)).toContain("memory.available_bytes");
    const coarse = await get<SeriesAnswer>("/api/hosts/10.9.0.1/series?date=2026-11-21&max_points=10");
    expect(coarse.reports).toBe(30);
    expect(coarse.t).toHaveLength(10);
  });

  test("every bad parameter is a 400 naming it; an unknown host or day a 404", async () => {
    const get = await fleet(1);
    for (const [path, name] of [
      ["/api/hosts/10.9.0.1/series?date=2026-02-30", "date"],
      ["/api/hosts/10.9.0.1/series?date=yesterday", "date"],
      ["/api/hosts/10.9.0.1/series?fields=cpu.load_percent,../etc", "fields"],
      ["/api/hosts/10.9.0.1/series?fields=", "fields"],
      ["/api/hosts/10.9.0.1/series?max_points=5", "max_points"],
      ["/api/hosts/10.9.0.1/series?from=now", "from"],
    ]) {
      const error = v.parse(ErrorBodySchema, await get<unknown>(path as string, 400)).error;
      expect(error.details?.map((d) => d.path)).toContain(name as string);
    }
    expect(v.parse(ErrorBodySchema, await get<unknown>("/api/hosts/..%2Fetc/series", 400)).error.code).toBe(
      "bad_ip",
    );
    expect(v.parse(ErrorBodySchema, await get<unknown>("/api/hosts/10.9.9.9/series", 404)).error.code).toBe(
      "not_found",
    );
    await get("/api/hosts/10.9.0.1/series?date=2026-11-01", 404);
  });
});

describe("a day scanned again goes on from where it stopped", () => {
  test("reports uploaded after a first look show up in the next one", async () => {
    const store = await openFileStore({ dir: tempDir(), clock: () => NOW });
    stores.push(store);
    const app = createApp({ store, version: "test", clock: () => NOW });
    const upload = (load: number) =>
      app.request(
        "/upload",
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(sampleReport({ cpu: { ...sampleReport().cpu, load_percent: load } })),
        },
        { ip: "192.0.2.7" },
      );
    const series = async () =>
      (await jsonOf(
        await app.request("/api/hosts/192.0.2.7/series?fields=cpu.load_percent", {}, { ip: "127.0.0.1" }),
      )) as SeriesAnswer;
    expect((await upload(10)).status).toBe(201);
    expect((await series()).values["cpu.load_percent"]).toEqual([10]);
    expect((await series()).values["cpu.load_percent"]).toEqual([10]);
    expect((await upload(20)).status).toBe(201);
    expect((await upload(30)).status).toBe(201);
    expect((await series()).values["cpu.load_percent"]).toEqual([10, 20, 30]);
  });

  test("going on from a scan of a shorter day gives what one scan of the whole day gives", async () => {
    const dir = tempDir();
    writeBusyDay(dir, "10.9.0.1", "2026-11-22", 12, 3);
    const text = await Bun.file(`${dir}/10.9.0.1_2026-11-22.json`).text();
    const elements = text.slice(2, -3).split(",\n");
    for (const cut of [1, 5, 11]) {
      const shorter = `[\n${elements.slice(0, cut).join(",\n")}\n]\n`;
      const first = await scanDay(shorter);
      expect(first.t).toHaveLength(cut);
      const resumed = await scanDay(text, first);
      expect(resumed).toEqual(await scanDay(text));
      expect(resumed.t).toHaveLength(12);
    }
  });
});
