// The Windows collectors for real under PowerShell 7: the agent's own session (framing included) runs every
// command unchanged under pwsh, with the Windows-only cmdlets (Get-CimInstance, Get-ItemProperty on HKLM,
// Get-Process -IncludeUserName, Invoke-CimMethod, Get-NetTCPConnection) and the WTS type replaced by
// PowerShell functions answering from recorded objects (test/fixtures/windows/cim). So the scripts' syntax,
// the JSON they print and the parsers are tested together.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeOs } from "../../../src/agent/collect/_context.ts";
import { openPowerShellSession } from "../../../src/agent/collect/_ps-session.ts";
import { createCollector } from "../../../src/agent/collect/index.ts";
import { WINDOWS_SOFTWARE_COMMAND } from "../../../src/agent/collect/software-windows.ts";
import { WTS_TYPE_SOURCE } from "../../../src/agent/collect/users.ts";
import { checkReport, type Report } from "../../../src/shared/report.ts";
import { NO_PWSH_REASON, PWSH, PWSH_ENV, pwshArgv } from "../../helpers/pwsh.ts";
import { RECORDED_SESSIONS } from "./_fixtures.ts";

const CIM = join(import.meta.dir, "..", "..", "fixtures", "windows", "cim");
const NOW = new Date("2026-11-23T09:00:05.000Z");

/** The session's prelude: the recorded objects, then the stand-ins that answer from them. */
function prelude(file: string): string {
  const json = Buffer.from(readFileSync(join(CIM, file), "utf8")).toString("base64");
  return [
    `$global:RelevoJson = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${json}'))`,
    readFileSync(join(CIM, "fakes.ps1"), "utf8"),
  ].join("\n");
}

/** node:os as the agent sees it on the recorded server. */
const recordedOs: NodeOs = {
  hostname: () => "WEB01",
  arch: () => "x64",
  release: () => "10.0.20348",
  uptime: () => 269_540,
  networkInterfaces: () => ({}),
  cpus: () =>
    Array.from({ length: 32 }, () => ({
      model: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
      speed: 2993,
      times: { user: 1_000_000, nice: 0, sys: 500_000, idle: 8_500_000, irq: 10_000 },
    })),
  totalmem: () => 34_359_738_368,
  freemem: () => 21_474_836_480,
  loadavg: () => [0, 0, 0],
};

const label = PWSH ? "" : ` (skipped: ${NO_PWSH_REASON})`;

describe.skipIf(!PWSH)(`the Windows collectors under a real pwsh${label}`, () => {
  let report: Report;
  const restarts: string[] = [];

  beforeAll(async () => {
    const collector = createCollector({
      platform: "win32",
      powerShellArgv: pwshArgv(PWSH as string),
      powerShellEnv: PWSH_ENV,
      powerShellPrelude: prelude("server-2022.json"),
      onPowerShellRestart: (reason) => restarts.push(reason),
      os: recordedOs,
      now: () => NOW,
      // pwsh starts in a second or more on a busy 2-core machine; Add-Type compiles a stand-in first.
      timeoutMs: 60_000,
      sampleMs: 100,
    });
    try {
      report = await collector.collect();
    } finally {
      await collector.close();
    }
  }, 120_000);

  test("every collector ran without an error or a restart", () => {
    expect(report.errors).toEqual([]);
    expect(restarts).toEqual([]);
    expect(checkReport(report).ok).toBe(true);
  });

  test("host and OS", () => {
    expect(report.host).toMatchObject({ hostname: "WEB01", fqdn: "WEB01.corp.example.com" });
    expect(report.os).toMatchObject({
      platform: "win32",
      name: "Microsoft Windows Server 2022 Standard",
      version: "21H2",
      build: "20348.2340",
      kernel: "10.0.20348",
      edition: "ServerStandard",
    });
  });

  test("CPU and memory", () => {
    expect(report.cpu).toMatchObject({ manufacturer: "Intel", cores: 32, physical_cores: 16 });
    expect(report.memory).toEqual({
      total_bytes: 34_359_738_368,
      available_bytes: 21_474_836_480,
      swap_total_bytes: 4864 * 2 ** 20,
      swap_used_bytes: 312 * 2 ** 20,
    });
  });

  test("sessions: WTS ones with domain and state, and one OpenSSH session for carol's sshd and its sftp child", () => {
    expect(report.users).toEqual(RECORDED_SESSIONS as unknown as Report["users"]);
  });

  test("processes: owners, parents, start times and command lines; no System Idle Process", () => {
    const byPid = new Map(report.processes.list.map((process) => [process.pid, process]));
    expect(report.processes.total).toBe(8);
    expect(byPid.has(0)).toBe(false);
    expect(byPid.get(2216)).toMatchObject({
      ppid: 788,
      name: "sqlservr.exe",
      user: "NT SERVICE\\MSSQLSERVER",
      memory_rss_bytes: 2_254_536_704,
      started_at: "2026-11-20T06:13:20.984Z",
    });
    expect(byPid.get(6400)?.command).toEndWith("?from=2026-11-01&to=2026-11-22 <today's>");
    expect(byPid.get(6400)?.user).toBe("CORP\\alice");
    // Recorded times do not move between the two samples: nothing used CPU.
    expect(report.processes.list.every((process) => process.cpu_percent === 0)).toBe(true);
  });

  test("disks: drives, a folder mount and a Cluster Shared Volume; no unmounted or removable volume", () => {
    expect(report.disks.map((disk) => [disk.mount, disk.fs])).toEqual([
      ["C:", "NTFS"],
      ["D:", "ReFS"],
      ["D:\\Mounts\\Logs", "ReFS"],
      ["C:\\ClusterStorage\\Volume1", "CSVFS"],
    ]);
  });

  test("software: every registry view, loaded and unloaded user hives, Appx and hotfixes", () => {
    const items = report.software?.items ?? [];
    expect(report.software?.hash).toMatch(/^[0-9a-f]{64}$/);
    const count = (source: string) => items.filter((item) => item.source === source).length;
    expect([
      count("registry"),
      count("registry-wow64"),
      count("registry-user"),
      count("appx"),
      count("hotfix"),
    ]).toEqual([4, 2, 3, 2, 2]);
    expect(items.find((item) => item.name === "Microsoft Visual Studio Code (User)")).toMatchObject({
      user: "bob",
      source: "registry-user",
      version: "1.95.3",
    });
    expect(items.find((item) => item.name === "秀丸エディタ")?.user).toBe("alice");
  });

  test("services and domain", () => {
    expect(report.services?.items?.map((service) => [service.name, service.state])).toEqual([
      ["EventLog", "running"],
      ["MSSQLSERVER", "running"],
      ["Spooler", "stopped"],
      ["sshd", "running"],
    ]);
    expect(report.domain).toMatchObject({ kind: "hybrid", domain_controller: "DC02", forest: "example.com" });
  });

  test("system", () => {
    expect(report.system).toEqual({
      manufacturer: "VMware, Inc.",
      model: "VMware7,1",
      serial: "VMware-42 1d 6c 3a 8e 5b 2f 91-0c 7d 44 e2 19 a6 b3 58",
      uuid: "3a6c1d42-5b8e-912f-0c7d-44e219a6b358",
    });
  });
});

describe.skipIf(!PWSH)(`an unloaded profile's NTUSER.DAT${label}`, () => {
  test("is loaded for the software command and unloaded again before it answers", async () => {
    const session = openPowerShellSession({
      argv: pwshArgv(PWSH as string),
      env: PWSH_ENV,
      prelude: prelude("server-2022.json"),
      timeoutMs: 90_000,
    });
    try {
      const out = await session.run(WINDOWS_SOFTWARE_COMMAND);
      expect(out).toContain("Microsoft Visual Studio Code (User)");
      const hives = JSON.parse(
        await session.run("ConvertTo-Json -Compress -InputObject $global:RelevoHives"),
      );
      expect(hives).toEqual({ "HKU\\relevo_S-1-5-21-3623811015-3361044348-30300820-1105": "unloaded" });
      // Nothing of the hive stays visible under HKU once it is unloaded.
      const left = await session.run(
        "@($global:RelevoData.registry.PSObject.Properties.Name | Where-Object { $_ -like '*relevo_*' }).Count",
      );
      expect(left.trim()).toBe("0");
    } finally {
      await session.close();
    }
  }, 120_000);
});

describe.skipIf(!PWSH)(`the WTS type${label}`, () => {
  test("compiles with Add-Type as the users command sends it", async () => {
    const session = openPowerShellSession({
      argv: pwshArgv(PWSH as string),
      env: PWSH_ENV,
      timeoutMs: 90_000,
    });
    try {
      const source = Buffer.from(WTS_TYPE_SOURCE).toString("base64");
      const out = await session.run(
        `Add-Type -TypeDefinition ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${source}'))); [Relevo.Wts].GetMethod('Sessions').ReturnType.Name`,
      );
      expect(out).toBe("List`1");
    } finally {
      await session.close();
    }
  }, 120_000);
});
