// A collector that throws or hangs costs its own section only; PowerShell hangs restart the session.
import { describe, expect, test } from "bun:test";
import {
  createPowerShellSession,
  type PowerShellHost,
  powerShellHost,
} from "../../../src/agent/collect/_powershell.ts";
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
      ["cpu", "disks", "host", "memory", "os", "processes", "system", "users"].sort(),
    );
    expect(report.os.platform).toBe("win32");
    expect(report.network.length).toBeGreaterThan(0);
    expect(checkReport(report).ok).toBe(true);
  });
});

/** systeminformation's PowerShell functions, counting starts and releases; `answer` decides each reply. */
function fakeHost(answer: (command: string, call: number) => Promise<string>) {
  const counts = { starts: 0, releases: 0, calls: 0 };
  const host: PowerShellHost = {
    powerShell: (command) => answer(command, counts.calls++),
    powerShellStart: () => {
      counts.starts++;
    },
    powerShellRelease: () => {
      counts.releases++;
    },
  };
  return { host, counts };
}

describe("createPowerShellSession", () => {
  test("starts one session and keeps it for every command", async () => {
    const { host, counts } = fakeHost(async (command) => `out of ${command}`);
    const session = createPowerShellSession(host, { timeoutMs: 500, persistent: true });
    expect(await session.run("a")).toBe("out of a");
    expect(await session.run("b")).toBe("out of b");
    session.close();
    expect(counts).toEqual({ starts: 1, releases: 1, calls: 2 });
  });

  test("restarts the session after a command hangs past the timeout", async () => {
    const { host, counts } = fakeHost((_, call) =>
      call === 0 ? new Promise(() => {}) : Promise.resolve("fresh"),
    );
    const restarts: string[] = [];
    const session = createPowerShellSession(host, {
      timeoutMs: 100,
      persistent: true,
      onRestart: (reason) => restarts.push(reason),
    });
    await expect(session.run("Get-CimInstance Win32_Process")).rejects.toThrow(/timed out after 100 ms/);
    expect(await session.run("again")).toBe("fresh");
    expect(counts).toMatchObject({ starts: 2, releases: 1 });
    expect(restarts).toHaveLength(1);
  });

  test("treats empty output, systeminformation's way of failing, as an error", async () => {
    const { host, counts } = fakeHost(async () => "  \r\n");
    const session = createPowerShellSession(host, { timeoutMs: 100, persistent: true });
    await expect(session.run("x")).rejects.toThrow(/printed nothing/);
    expect(counts.releases).toBe(1);
  });
});

describe("powerShellHost", () => {
  test("finds systeminformation's powerShell in lib/util.js, which its index does not export", async () => {
    const si = await import("systeminformation");
    expect("powerShell" in si).toBe(false);
    const host = await powerShellHost(si);
    expect(typeof host?.powerShell).toBe("function");
    expect(host?.powerShellStart).toBe(si.powerShellStart);
  });

  test("has no session to offer without systeminformation", async () => {
    expect(await powerShellHost(undefined)).toBeUndefined();
  });
});
