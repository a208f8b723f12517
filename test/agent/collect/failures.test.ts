// A collector that throws or hangs costs its own section only.
import { describe, expect, test } from "bun:test";
import { collectReport } from "../../../src/agent/collect/index.ts";
import { checkReport } from "../../../src/shared/report.ts";

describe("collectReport", () => {
  test("reports a collector that throws in errors, with an empty section, and the rest as usual", async () => {
    const report = await collectReport({
      sampleMs: 0,
      override: {
        processes: async () => {
          throw new Error("/proc is not mounted");
        },
      },
    });
    expect(report.errors).toEqual([{ collector: "processes", message: "/proc is not mounted" }]);
    expect(report.processes).toEqual({ total: 0, list: [] });
    expect(report.host.hostname).not.toBe("");
    expect(report.memory.total_bytes).toBeGreaterThan(0);
    expect(checkReport(report).ok).toBe(true);
  });

  test("gives up on a collector that hangs after its timeout, and sends the rest", async () => {
    const started = performance.now();
    const report = await collectReport({
      sampleMs: 0,
      timeoutMs: 300,
      override: { disks: () => new Promise(() => {}), users: () => new Promise(() => {}) },
    });
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(report.errors.map((error) => error.collector).sort()).toEqual(["disks", "users"]);
    expect(report.errors[0]?.message).toMatch(/timed out after 300 ms/);
    expect(report.disks).toEqual([]);
    expect(report.os.name).not.toBe("");
    expect(checkReport(report).ok).toBe(true);
  });

  test("reports every Windows collector as failed when PowerShell is missing, yet still sends a valid report", async () => {
    const report = await collectReport({ platform: "win32", sampleMs: 0 });
    expect(report.errors.map((error) => error.collector).sort()).toEqual(
      [
        "cpu",
        "disks",
        "domain",
        "host",
        "memory",
        "os",
        "processes",
        "services",
        "software",
        "system",
        "users",
      ].sort(),
    );
    expect(report.os.platform).toBe("win32");
    expect(report.network.length).toBeGreaterThan(0);
    expect(checkReport(report).ok).toBe(true);
  });
});
