// On a real Windows host (the windows-latest CI job): the compiled agent's report against PowerShell's own
// answers for the same machine: OS caption, version and build, logical processors, host name, total memory,
// a process this test starts, the logged-on users (quser), the fixed drives (.NET DriveInfo) and the
// machine's maker, model and UUID (the registry's SMBIOS copy). Skipped elsewhere; Wine cannot stand in (its
// PowerShell is a stub).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { clean } from "../../src/agent/collect/system.ts";
import { BUILD_TIMEOUT_MS, executables, run } from "./_run.ts";

const onWindows = process.platform === "win32" && process.arch === "x64";
if (!onWindows) console.warn("e2e: skipping the Windows collectors against PowerShell (not on Windows x64)");

interface Truth {
  caption: string;
  logical: number;
  hostname: string;
  memory: number;
  display_version: string;
  build: string;
  users: string[];
  drives: { name: string; size: number; free: number }[];
  manufacturer: string;
  model: string;
  uuid: string;
}

const TRUTH_SCRIPT = String.raw`
$os = Get-CimInstance Win32_OperatingSystem
$cs = Get-CimInstance Win32_ComputerSystem
$r = Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$bios = Get-ItemProperty 'HKLM:\HARDWARE\DESCRIPTION\System\BIOS'
[pscustomobject]@{
  caption = $os.Caption.Trim()
  logical = [int]$cs.NumberOfLogicalProcessors
  hostname = $env:COMPUTERNAME
  memory = [int64]$cs.TotalPhysicalMemory
  display_version = [string]$(if ($r.DisplayVersion) { $r.DisplayVersion } else { $r.ReleaseId })
  build = "$($os.BuildNumber).$($r.UBR)"
  users = @(quser 2>$null | Select-Object -Skip 1 | ForEach-Object { ($_.Trim() -replace '^>', '' -split '\s+')[0] })
  drives = @([System.IO.DriveInfo]::GetDrives() | Where-Object { $_.DriveType -eq 'Fixed' -and $_.IsReady } | ForEach-Object {
    [pscustomobject]@{ name = $_.Name.TrimEnd('\'); size = $_.TotalSize; free = $_.TotalFreeSpace } })
  manufacturer = [string]$bios.SystemManufacturer
  model = [string]$bios.SystemProductName
  uuid = [string](Get-CimInstance Win32_ComputerSystemProduct).UUID
} | ConvertTo-Json -Compress -Depth 3
`;

interface Report {
  host: { hostname: string };
  os: { platform: string; name: string; version: string; build: string };
  users: { name: string; terminal: string }[];
  disks: { mount: string; size_bytes: number; available_bytes?: number }[];
  system: { manufacturer: string; model: string; uuid: string };
  cpu: { cores: number };
  memory: { total_bytes: number };
  processes: { total: number; list: { pid: number; ppid: number; name: string; command?: string | null }[] };
  errors: { collector: string; message: string }[];
}

describe.skipIf(!onWindows)("the Windows collectors against PowerShell's own answers", () => {
  let report: Report;
  let truth: Truth;
  let marker: ReturnType<typeof Bun.spawn> | undefined;

  beforeAll(async () => {
    const built = await executables(["windows-x64"], ["agent"]);
    const agent = built["agent-windows-x64"]?.path as string;
    // A process to look for: ping waits about a second per echo, so it is still there when the agent looks.
    marker = Bun.spawn(["ping", "-n", "120", "127.0.0.1"], { stdout: "ignore", stderr: "ignore" });
    const ps = await run(["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", TRUTH_SCRIPT], {
      timeoutMs: 60_000,
    });
    if (ps.code !== 0) throw new Error(`PowerShell failed: ${ps.stderr}`);
    truth = JSON.parse(ps.stdout) as Truth;
    const out = await run([agent, "collect"], { timeoutMs: 120_000 });
    if (out.code !== 0) throw new Error(`relevo-agent collect failed (exit ${out.code}):\n${out.stderr}`);
    report = JSON.parse(out.stdout) as Report;
    console.error(`PowerShell: ${JSON.stringify(truth)}; report errors: ${JSON.stringify(report.errors)}`);
  }, BUILD_TIMEOUT_MS);

  afterAll(() => {
    marker?.kill();
  });

  test("the OS name is the caption Windows gives", () => {
    expect(report.os.platform).toBe("win32");
    expect(report.os.name).toBe(truth.caption);
  });

  test("the version is DisplayVersion and the build carries UBR", () => {
    expect(report.os.version).toBe(truth.display_version);
    expect(report.os.build).toBe(truth.build);
  });

  test("the users are the ones quser lists (OpenSSH sessions aside)", () => {
    const wts = report.users.filter((user) => user.terminal !== "ssh").map((user) => user.name.toLowerCase());
    expect(wts.sort()).toEqual(truth.users.map((name) => name.toLowerCase()).sort());
  });

  test("every fixed drive is listed with DriveInfo's size (0.1 %) and free space (1 %)", () => {
    for (const drive of truth.drives) {
      const disk = report.disks.find((one) => one.mount.toUpperCase() === drive.name.toUpperCase());
      expect(disk, drive.name).toBeDefined();
      expect(Math.abs((disk?.size_bytes ?? 0) - drive.size)).toBeLessThanOrEqual(drive.size * 0.001);
      expect(Math.abs((disk?.available_bytes ?? 0) - drive.free)).toBeLessThanOrEqual(drive.size * 0.01);
    }
  });

  test("maker and model are the registry's SMBIOS copy, and the UUID Win32_ComputerSystemProduct's", () => {
    expect(report.system.manufacturer).toBe(clean(truth.manufacturer));
    expect(report.system.model).toBe(clean(truth.model));
    expect(report.system.uuid).toBe(clean(truth.uuid).toLowerCase());
  });

  test("the processor count is the logical processor count", () => {
    expect(report.cpu.cores).toBe(truth.logical);
  });

  test("the host name is the computer name", () => {
    expect(report.host.hostname.toLowerCase()).toBe(truth.hostname.toLowerCase());
  });

  test("the total memory is within 2 % of Win32_ComputerSystem's", () => {
    expect(Math.abs(report.memory.total_bytes - truth.memory) / truth.memory).toBeLessThan(0.02);
  });

  test("the process this test started is listed, with its parent", () => {
    const found = report.processes.list.find((p) => p.pid === marker?.pid);
    expect(found).toBeDefined();
    expect(found?.name.toLowerCase()).toStartWith("ping");
    expect(found?.ppid).toBe(process.pid);
    expect(report.processes.total).toBeGreaterThanOrEqual(report.processes.list.length);
  });

  test("none of the compared collectors failed", () => {
    const compared = ["host", "os", "cpu", "memory", "processes", "users", "disks", "system"];
    expect(report.errors.filter((error) => compared.includes(error.collector))).toEqual([]);
  });
});
