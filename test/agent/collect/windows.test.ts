// Windows collectors on recorded output: the parsers take the exact text the PowerShell commands print.
import { describe, expect, test } from "bun:test";
import type { NodeOs } from "../../../src/agent/collect/_context.ts";
import { powerShellDate } from "../../../src/agent/collect/_powershell.ts";
import { parseWindowsCpu, WINDOWS_CPU_COMMAND } from "../../../src/agent/collect/cpu.ts";
import { parseWindowsDisks, WINDOWS_DISKS_COMMAND } from "../../../src/agent/collect/disks.ts";
import { WINDOWS_DOMAIN_COMMAND } from "../../../src/agent/collect/domain.ts";
import { parseWindowsHost, WINDOWS_HOST_COMMAND } from "../../../src/agent/collect/host.ts";
import { createCollector } from "../../../src/agent/collect/index.ts";
import { parseWindowsSwap, WINDOWS_SWAP_COMMAND } from "../../../src/agent/collect/memory.ts";
import { parseWindowsOs, WINDOWS_OS_COMMAND } from "../../../src/agent/collect/os.ts";
import {
  parseWindowsProcesses,
  WINDOWS_PROCESS_TIMES_COMMAND,
  WINDOWS_PROCESSES_COMMAND,
} from "../../../src/agent/collect/processes.ts";
import { WINDOWS_SERVICES_COMMAND } from "../../../src/agent/collect/services.ts";
import { WINDOWS_SOFTWARE_COMMAND } from "../../../src/agent/collect/software-windows.ts";
import { parseWindowsSystem, WINDOWS_SYSTEM_COMMAND } from "../../../src/agent/collect/system.ts";
import { parseWindowsSessions, WINDOWS_USERS_COMMAND } from "../../../src/agent/collect/users.ts";
import { checkReport, type Report } from "../../../src/shared/report.ts";
import { RECORDED_SESSIONS, windowsOutput } from "./_fixtures.ts";

const NOW = new Date("2026-11-23T09:00:05.000Z");

describe("parseWindowsOs", () => {
  test("names the system as Windows does, with the build Windows Update shows", () => {
    expect(parseWindowsOs(windowsOutput("os"), NOW)).toEqual({
      name: "Microsoft Windows Server 2022 Standard",
      version: "21H2",
      build: "20348.2340",
      kernel: "10.0.20348",
      uptime_s: 269_240,
      pretty_name: "Microsoft Windows Server 2022 Standard 21H2",
      edition: "ServerStandard",
      installation_type: "Server",
    });
  });

  test("calls Windows 11 by its name in any display language, though ProductName says Windows 10", () => {
    expect(parseWindowsOs(windowsOutput("os-11-fr"), NOW)).toMatchObject({
      name: "Microsoft Windows 11 Pro",
      version: "23H2",
      build: "22631.4460",
      kernel: "10.0.22631",
      edition: "Professional",
    });
  });

  test("names a Server Core installation", () => {
    const os = parseWindowsOs(windowsOutput("os-core"), NOW);
    expect(os).toMatchObject({
      name: "Microsoft Windows Server 2022 Datacenter",
      installation_type: "Server Core",
    });
    expect(os.pretty_name).toBe("Microsoft Windows Server 2022 Datacenter Server Core 21H2");
  });

  test("uses Server 2019's ReleaseId as its version", () => {
    const os = parseWindowsOs(windowsOutput("os-2019"), NOW);
    expect(os.name).toBe("Microsoft Windows Server 2019 Datacenter");
    expect(os.version).toBe("1809");
    expect(os.build).toBe("17763.5576");
  });

  test("reads a boot time in Windows PowerShell 5.1's /Date(ms)/ form", () => {
    const os = parseWindowsOs(windowsOutput("os-2016-ps51-date"), NOW);
    expect(os.uptime_s).toBe(Math.floor((NOW.getTime() - 1_763_619_164_500) / 1000));
    expect(os.version).toBe("1607");
  });

  test("refuses output that is not JSON instead of reporting empty fields", () => {
    expect(() => parseWindowsOs("Get-CimInstance : Access denied\r\n", NOW)).toThrow(/not JSON/);
  });
});

describe("powerShellDate", () => {
  for (const [value, ms] of [
    ["2026-11-20T06:12:44.5000000Z", Date.UTC(2026, 10, 20, 6, 12, 44, 500)],
    ["/Date(1763619164500)/", 1_763_619_164_500],
    ["/Date(1763619164500+0100)/", 1_763_619_164_500],
    [
      { value: "/Date(1763619164500)/", DisplayHint: 2, DateTime: "Thursday, November 20, 2025 7:12:44 AM" },
      1_763_619_164_500,
    ],
  ] as const) {
    test(`reads ${JSON.stringify(value).slice(0, 40)}`, () => {
      expect(powerShellDate(value)).toBe(ms);
    });
  }

  test("gives NaN for nothing", () => {
    expect(powerShellDate(null)).toBeNaN();
    expect(powerShellDate("")).toBeNaN();
  });
});

describe("parseWindowsHost", () => {
  for (const [fixture, hostname, fqdn] of [
    ["host", "WEB01", "WEB01.corp.example.com"],
    ["host-workgroup", "DESKTOP-4F2K9QH", "DESKTOP-4F2K9QH"],
    ["host-disjoint", "APP07", "APP07.dmz.example.net"],
    ["host-workgroup-suffix", "LAB3", "LAB3.lab.example.org"],
  ] as const) {
    test(`gives ${fixture} the FQDN ${fqdn}`, () => {
      expect(parseWindowsHost(windowsOutput(fixture), "fallback")).toEqual({ hostname, fqdn });
    });
  }
});

describe("parseWindowsCpu", () => {
  test("adds up the cores of both sockets", () => {
    expect(parseWindowsCpu(windowsOutput("cpu"))).toEqual({
      manufacturer: "Intel",
      model: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
      speed_ghz: 2.993,
      cores: 32,
      physical_cores: 16,
    });
  });
});

describe("parseWindowsSwap", () => {
  test("reads the page file's size and use in bytes", () => {
    expect(parseWindowsSwap(windowsOutput("swap"))).toEqual({ total: 4864 * 2 ** 20, used: 312 * 2 ** 20 });
  });
});

describe("parseWindowsSessions", () => {
  test("lists the console, RDP sessions with client address, domain and state, and OpenSSH sessions", () => {
    expect(parseWindowsSessions(windowsOutput("users"))).toEqual({
      sshError: "",
      sessions: RECORDED_SESSIONS,
    });
  });

  test("gives an empty list when nobody is logged on", () => {
    expect(parseWindowsSessions(windowsOutput("users-none"))).toEqual({ sessions: [], sshError: "" });
  });

  test("keeps the WTS sessions and says why OpenSSH sessions could not be read", () => {
    const { sessions, sshError } = parseWindowsSessions(windowsOutput("users-ssh-denied"));
    expect(sessions.map((session) => session.name)).toEqual(["Administrator"]);
    expect(sshError).toBe("Access denied");
  });

  test("still reads the plain list of sessions an older agent's command printed", () => {
    expect(parseWindowsSessions(windowsOutput("users-ps51-list")).sessions).toHaveLength(1);
  });
});

describe("parseWindowsProcesses", () => {
  test("keeps each process's owner, parent, start time and command line", () => {
    const { processes, ownerError } = parseWindowsProcesses(windowsOutput("processes-1"));
    expect(ownerError).toBe("");
    // 12 printed; the System Idle Process is not a process using CPU and is left out.
    expect(processes).toHaveLength(11);
    expect(processes.some((process) => process.pid === 0)).toBe(false);
    const sql = processes.find((process) => process.name === "sqlservr.exe");
    expect(sql).toMatchObject({
      pid: 2216,
      ppid: 788,
      user: "NT SERVICE\\MSSQLSERVER",
      memory_rss_bytes: 2_254_536_704,
      started_at: "2026-11-20T06:13:20.984Z",
      command:
        '"C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe" -sMSSQLSERVER',
      cpu_seconds: 11_470.5,
    });
  });

  test("decodes the characters PowerShell 5.1 escapes in JSON", () => {
    const { processes } = parseWindowsProcesses(windowsOutput("processes-1"));
    expect(processes.find((process) => process.pid === 6400)?.command).toEndWith(
      "?from=2026-11-01&to=2026-11-22 <today's>",
    );
  });

  test("names well-known accounts in English by their SID, whatever the display language", () => {
    const { processes } = parseWindowsProcesses(windowsOutput("processes-1"));
    const owners = new Set(processes.map((process) => process.user));
    expect(owners).toContain("NT AUTHORITY\\SYSTEM");
    expect(owners).toContain("NT AUTHORITY\\NETWORK SERVICE");
    expect([...owners].some((owner) => owner.includes("AUTORIT"))).toBe(false);
  });

  test("fails clearly when Windows PowerShell 5.1 cut the list at its JSON depth", () => {
    expect(() => parseWindowsProcesses(windowsOutput("processes-depth-cut"))).toThrow(/depth limit/);
  });

  test("reads when PowerShell sampled the list", () => {
    expect(parseWindowsProcesses(windowsOutput("processes-2")).at).toBe(12_350_000.125);
    expect(parseWindowsProcesses(windowsOutput("processes-not-elevated")).at).toBeUndefined();
  });

  test("says why owners are missing when the agent is not elevated", () => {
    const { processes, ownerError } = parseWindowsProcesses(windowsOutput("processes-not-elevated"));
    expect(ownerError).toContain("requires elevated user rights");
    expect(processes.every((process) => process.user === "")).toBe(true);
  });
});

describe("parseWindowsDisks", () => {
  test("reports drives, volumes mounted in folders and Cluster Shared Volumes with size, use and free space", () => {
    expect(parseWindowsDisks(windowsOutput("disks"))).toEqual([
      {
        mount: "C:",
        fs: "NTFS",
        size_bytes: 136_365_211_648,
        used_bytes: 136_365_211_648 - 84_120_596_480,
        available_bytes: 84_120_596_480,
        label: "",
      },
      {
        mount: "D:",
        fs: "ReFS",
        size_bytes: 536_736_776_192,
        used_bytes: 536_736_776_192 - 401_398_214_656,
        available_bytes: 401_398_214_656,
        label: "Data",
      },
      {
        mount: "D:\\Mounts\\Logs",
        fs: "ReFS",
        size_bytes: 107_374_182_400,
        used_bytes: 107_374_182_400 - 96_636_764_160,
        available_bytes: 96_636_764_160,
        label: "Logs",
      },
      {
        mount: "C:\\ClusterStorage\\Volume1",
        fs: "CSVFS",
        size_bytes: 2_199_023_255_552,
        used_bytes: 2_199_023_255_552 - 879_609_302_220,
        available_bytes: 879_609_302_220,
        label: "CSV1",
      },
    ]);
  });
});

describe("parseWindowsSystem", () => {
  test("reads maker, model, serial and UUID of the machine", () => {
    expect(parseWindowsSystem(windowsOutput("system"))).toEqual({
      manufacturer: "VMware, Inc.",
      model: "VMware7,1",
      serial: "VMware-42 1d 6c 3a 8e 5b 2f 91-0c 7d 44 e2 19 a6 b3 58",
      uuid: "3a6c1d42-5b8e-912f-0c7d-44e219a6b358",
    });
  });
});

/** node:os as the agent sees it on the recorded server. */
const windowsOs: NodeOs = {
  hostname: () => "WEB01",
  arch: () => "x64",
  release: () => "10.0.20348",
  uptime: () => 269_540,
  networkInterfaces: () => JSON.parse(windowsOutput("network-interfaces")),
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

/** A PowerShell that answers each command with its recording, and remembers what it was asked. */
function recordedPowerShell(answers: Record<string, string>) {
  const asked: string[] = [];
  const run = async (command: string) => {
    asked.push(command);
    const answer = answers[command];
    if (answer === undefined) throw new Error(`no recording for ${command.slice(0, 60)}`);
    return answer;
  };
  return { run, asked };
}

const answers = {
  [WINDOWS_HOST_COMMAND]: windowsOutput("host"),
  [WINDOWS_OS_COMMAND]: windowsOutput("os"),
  [WINDOWS_CPU_COMMAND]: windowsOutput("cpu"),
  [WINDOWS_SWAP_COMMAND]: windowsOutput("swap"),
  [WINDOWS_USERS_COMMAND]: windowsOutput("users"),
  [WINDOWS_PROCESS_TIMES_COMMAND]: windowsOutput("processes-1"),
  [WINDOWS_PROCESSES_COMMAND]: windowsOutput("processes-2"),
  [WINDOWS_DISKS_COMMAND]: windowsOutput("disks"),
  [WINDOWS_SYSTEM_COMMAND]: windowsOutput("system"),
  [WINDOWS_SOFTWARE_COMMAND]: windowsOutput("software"),
  [WINDOWS_SERVICES_COMMAND]: windowsOutput("services"),
  [WINDOWS_DOMAIN_COMMAND]: windowsOutput("domain-hybrid"),
};

/** Every processor's times at `ms` on the agent's clock: 25 % busy from then on. */
const cpusAt = (ms: number) =>
  windowsOs.cpus().map((cpu) => ({
    ...cpu,
    times: { ...cpu.times, user: cpu.times.user + ms * 0.25, idle: cpu.times.idle + ms * 0.75 },
  }));

/**
 * Collects a report on the recorded server. PowerShell read Win32_Process 5 s apart (the recordings' `at`),
 * but the agent's clock moved 7 s between asking: PowerShell was busy with other commands first.
 */
async function windowsReport(): Promise<{ report: Report; asked: string[] }> {
  let clock = 0;
  const powerShell = recordedPowerShell(answers);
  const collector = createCollector({
    platform: "win32",
    powerShell: async (command) => {
      const output = await powerShell.run(command);
      if (command === WINDOWS_PROCESS_TIMES_COMMAND) clock = 7_000;
      return output;
    },
    os: { ...windowsOs, cpus: () => cpusAt(clock) },
    now: () => NOW,
    monotonic: () => clock,
    sampleMs: 0,
  });
  return { report: await collector.collect(), asked: powerShell.asked };
}

describe("the Windows collector without a working PowerShell", () => {
  test("still fills host name, addresses, arch, cores and memory from the runtime, naming only what is lost", async () => {
    const collector = createCollector({
      platform: "win32",
      powerShell: () => Promise.reject(new Error("PowerShell exited with code 1: Access is denied")),
      os: windowsOs,
      now: () => NOW,
      sampleMs: 0,
    });
    const report = await collector.collect();
    // No PowerShell, no earlier CPU sample: the load is not known and errors say so.
    expect(report.errors.find((error) => error.collector === "cpu")?.message).toStartWith(
      "manufacturer, physical_cores not read",
    );
    expect(report.host).toEqual({
      hostname: "WEB01",
      fqdn: "",
      // Link-local addresses stay out of host.ips (they name no host).
      ips: ["10.20.30.25", "2001:db8:10::25"],
    });
    expect(report.os).toMatchObject({
      platform: "win32",
      arch: "x64",
      kernel: "10.0.20348",
      uptime_s: 269_540,
    });
    expect(report.cpu).toMatchObject({ cores: 32, model: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz" });
    expect(report.memory).toMatchObject({ total_bytes: 34_359_738_368, available_bytes: 21_474_836_480 });
    expect(report.network.length).toBe(2);
    const byCollector = Object.fromEntries(report.errors.map((error) => [error.collector, error.message]));
    expect(byCollector.host).toBe("fqdn not read: PowerShell exited with code 1: Access is denied");
    expect(byCollector.memory).toStartWith("swap_total_bytes, swap_used_bytes not read: ");
    expect(byCollector.os).toStartWith("name, version, build not read: ");
    expect(Object.keys(byCollector).sort()).toEqual(
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
    expect(checkReport(report).ok).toBe(true);
  });
});

describe("the Windows collector when only the CPU baseline's process sample failed", () => {
  test("still measures load, and says the CPU shares of processes are not measured instead of reporting 0", async () => {
    let clock = 0;
    const powerShell = recordedPowerShell(answers);
    const collector = createCollector({
      platform: "win32",
      powerShell: async (command) => {
        if (command === WINDOWS_PROCESS_TIMES_COMMAND) {
          clock = 7_000;
          throw new Error("PowerShell command timed out after 10000 ms");
        }
        return powerShell.run(command);
      },
      os: { ...windowsOs, cpus: () => cpusAt(clock) },
      now: () => NOW,
      monotonic: () => clock,
      sampleMs: 0,
    });
    const report = await collector.collect();
    expect(report.cpu.load_percent).toBe(25);
    expect(report.processes.total).toBe(12);
    expect(report.errors).toEqual([
      { collector: "processes", message: "cpu_percent not measured: no earlier process sample" },
    ]);
  });
});

describe("the Windows collector", () => {
  test("produces a report that passes the shared schema, without errors", async () => {
    const { report } = await windowsReport();
    expect(report.errors).toEqual([]);
    expect(checkReport(report).ok).toBe(true);
  });

  test("fills every section from the recordings", async () => {
    const { report } = await windowsReport();
    expect(report.host).toEqual({
      hostname: "WEB01",
      fqdn: "WEB01.corp.example.com",
      // Link-local addresses are not ones other machines reach the host on.
      ips: ["10.20.30.25", "2001:db8:10::25"],
    });
    expect(report.os).toMatchObject({
      platform: "win32",
      name: "Microsoft Windows Server 2022 Standard",
      build: "20348.2340",
    });
    // From the processors' busy and idle times over the interval, not a one-second snapshot.
    expect(report.cpu).toMatchObject({ cores: 32, physical_cores: 16, load_percent: 25, load_avg: [] });
    expect(report.memory).toEqual({
      total_bytes: 34_359_738_368,
      available_bytes: 21_474_836_480,
      swap_total_bytes: 4864 * 2 ** 20,
      swap_used_bytes: 312 * 2 ** 20,
    });
    expect(report.users.map((user) => [user.name, user.host])).toEqual([
      ["Administrator", ""],
      ["alice", "203.0.113.25"],
      ["bob", "198.51.100.7"],
      ["carol", "2001:db8:5::40"],
    ]);
    expect(report.disks.map((disk) => disk.mount)).toEqual([
      "C:",
      "D:",
      "D:\\Mounts\\Logs",
      "C:\\ClusterStorage\\Volume1",
    ]);
    expect(report.network).toMatchObject([
      {
        name: "Ethernet0",
        mac: "00:50:56:a1:3c:7e",
        ipv4: ["10.20.30.25"],
        ipv6: ["fe80::8d4f:2a17:5b3c:91e2", "2001:db8:10::25"],
      },
      { name: "Loopback Pseudo-Interface 1", mac: "00:00:00:00:00:00", ipv4: ["127.0.0.1"], ipv6: ["::1"] },
    ]);
    expect(report.system.serial).toStartWith("VMware-42");
  });

  test("takes the CPU baseline before the full process list", async () => {
    const { asked } = await windowsReport();
    expect(asked.indexOf(WINDOWS_PROCESS_TIMES_COMMAND)).toBeLessThan(
      asked.indexOf(WINDOWS_PROCESSES_COMMAND),
    );
  });

  test("leaves the System Idle Process out", async () => {
    const { report } = await windowsReport();
    expect(report.processes.list.some((process) => process.pid === 0)).toBe(false);
  });

  // Percent of one CPU over the 5 s between PowerShell's two samples (not the 7 s of the agent's clock).
  for (const [name, percent] of [
    ["System", 10],
    ["sqlservr.exe", 25],
    ["relevo-agent.exe", 3],
    ["msedge.exe", 10],
    ["explorer.exe", 0],
    ["cmd.exe", 6], // started between the samples: all its CPU time is inside the interval
    ["notepad.exe", 2], // reuses the pid of WerFault.exe, which had 40 s of CPU: no history inherited
  ] as const) {
    test(`derives ${name}'s CPU share (${percent} %) from the change in its CPU time`, async () => {
      const { report } = await windowsReport();
      expect(report.processes.list.find((process) => process.name === name)?.cpu_percent).toBe(percent);
    });
  }

  test("keeps the owner of every process that has one", async () => {
    const { report } = await windowsReport();
    const owners = Object.fromEntries(report.processes.list.map((process) => [process.name, process.user]));
    expect(owners).toMatchObject({
      "sqlservr.exe": "NT SERVICE\\MSSQLSERVER",
      "msedge.exe": "CORP\\alice",
      System: "NT AUTHORITY\\SYSTEM",
    });
    expect(report.processes.total).toBe(12);
  });
});
