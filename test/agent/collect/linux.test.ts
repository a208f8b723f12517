// Linux collectors against this machine's truth.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import * as os from "node:os";
import { collectReport, createCollector } from "../../../src/agent/collect/index.ts";
import { checkReport, type Report } from "../../../src/shared/report.ts";

const linux = process.platform === "linux";
// `id -un` rather than os.userInfo(), which answers "unknown" in some sandboxes.
const me = linux ? Bun.spawnSync(["id", "-un"]).stdout.toString().trim() : "";

describe.if(linux)("a report of this machine", () => {
  let sleeper: Bun.Subprocess;
  let spinner: Bun.Subprocess;
  let startedAt: number;
  let report: Report;

  beforeAll(async () => {
    startedAt = Date.now();
    sleeper = Bun.spawn(["sleep", "37"], { stdio: ["ignore", "ignore", "ignore"] });
    spinner = Bun.spawn(["sh", "-c", "while :; do :; done"], { stdio: ["ignore", "ignore", "ignore"] });
    report = await collectReport({ sampleMs: 400 });
  });
  afterAll(() => {
    sleeper.kill();
    spinner.kill();
  });

  test("passes the shared schema, with no collector in errors", () => {
    expect(checkReport(report)).toMatchObject({ ok: true });
    expect(report.errors).toEqual([]);
  });

  test("names the host as os.hostname() does", () => {
    expect(report.host.hostname).toBe(os.hostname());
    expect(report.host.fqdn.startsWith(os.hostname())).toBe(true);
  });

  test("names the OS as /etc/os-release does, with this kernel", () => {
    const release = readFileSync("/etc/os-release", "utf8");
    const name = /^NAME="?([^"\n]*)"?$/m.exec(release)?.[1];
    expect(report.os).toMatchObject({ platform: "linux", name, kernel: os.release(), arch: os.arch() });
    expect(report.os.uptime_s).toBeCloseTo(os.uptime(), -1);
  });

  test("counts the cores the runtime sees", () => {
    expect(report.cpu.cores).toBe(navigator.hardwareConcurrency || os.cpus().length);
    expect(report.cpu.physical_cores).toBeGreaterThan(0);
    expect(report.cpu.physical_cores).toBeLessThanOrEqual(report.cpu.cores);
  });

  test("measures load over the window: a busy loop keeps the machine above zero", () => {
    expect(report.cpu.load_percent).toBeGreaterThan(100 / report.cpu.cores / 4);
    expect(report.cpu.load_avg).toHaveLength(3);
  });

  test("reports the total memory /proc/meminfo states", () => {
    const kib = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]);
    expect(report.memory.total_bytes).toBe(kib * 1024);
    expect(report.memory.available_bytes).toBeLessThanOrEqual(report.memory.total_bytes);
  });

  test("lists the sleep process the test started, with its pid, parent, name, user and command", () => {
    const sleep = report.processes.list.find((process) => process.pid === sleeper.pid);
    expect(sleep).toMatchObject({
      pid: sleeper.pid,
      ppid: process.pid,
      name: "sleep",
      user: me,
      command: "sleep 37",
    });
    expect(sleep?.memory_rss_bytes).toBeGreaterThan(0);
    const started = Date.parse(sleep?.started_at ?? "");
    expect(Math.abs(started - startedAt)).toBeLessThan(2_000);
  });

  test("shows the busy loop near one full CPU and the sleeper at zero", () => {
    const spin = report.processes.list.find((process) => process.pid === spinner.pid);
    expect(spin?.cpu_percent).toBeGreaterThan(30);
    expect(report.processes.list.find((process) => process.pid === sleeper.pid)?.cpu_percent).toBe(0);
  });

  test("counts every process and lists them all", () => {
    expect(report.processes.total).toBe(report.processes.list.length);
    expect(report.processes.total).toBeGreaterThan(2);
  });

  test("includes the root filesystem with its size and use", () => {
    const root = report.disks.find((disk) => disk.mount === "/");
    expect(root?.size_bytes).toBeGreaterThan(0);
    expect(root?.used_bytes).toBeLessThanOrEqual(root?.size_bytes ?? 0);
  });

  test("lists every interface node:os knows, and the down ones only /sys/class/net knows", () => {
    const names = report.network.map((nic) => nic.name);
    expect(names).toEqual(expect.arrayContaining(Object.keys(os.networkInterfaces())));
    expect(names.sort()).toEqual(readdirSync("/sys/class/net").sort());
  });
});

describe.if(linux)("a long-running collector", () => {
  test("measures CPU against the previous report, without sleeping again", async () => {
    const collector = createCollector({ sampleMs: 200 });
    await collector.collect();
    const first = collector.sample;
    const started = performance.now();
    const report = await collector.collect();
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(collector.sample?.at).toBeGreaterThan(first?.at ?? Number.POSITIVE_INFINITY);
    expect(checkReport(report).ok).toBe(true);
    collector.close();
  });

  test("leaves every command line empty when asked to", async () => {
    const sleeper = Bun.spawn(["sleep", "38"], { stdio: ["ignore", "ignore", "ignore"] });
    try {
      const report = await collectReport({ commandLines: false, sampleMs: 0 });
      expect(report.processes.list.every((process) => process.command === "")).toBe(true);
      expect(report.processes.list.find((process) => process.pid === sleeper.pid)?.name).toBe("sleep");
    } finally {
      sleeper.kill();
    }
  });
});
