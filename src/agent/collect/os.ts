// Operating system: named the way the distribution (os-release) or Windows (Win32_OperatingSystem) names it.
import type { OsInfo } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { parseKeyValues, readFirst, readText } from "./_files.ts";
import { clip, count } from "./_limits.ts";
import { orPartial } from "./_partial.ts";
import { asRecord, parsePowerShellJson, powerShellDate, str } from "./_powershell.ts";

/** OsInfo plus `pretty_name`, an extra field the loose schema keeps ("Debian GNU/Linux 12 (bookworm)"). */
type OsSection = OsInfo & { pretty_name: string; edition?: string; installation_type?: string };

export function parseOsRelease(text: string): {
  name: string;
  version: string;
  build: string;
  pretty: string;
} {
  const values = parseKeyValues(text);
  const name = values.get("NAME") ?? values.get("ID") ?? "Linux";
  const version = values.get("VERSION_ID") ?? values.get("VERSION") ?? "";
  return {
    name,
    version,
    build: values.get("BUILD_ID") ?? "",
    pretty: values.get("PRETTY_NAME") ?? [name, version].filter(Boolean).join(" "),
  };
}

export async function osLinux(ctx: Context): Promise<OsSection> {
  // As systemd reads it: /usr/lib/os-release only when /etc/os-release does not exist. Unreadable, the
  // names stay empty (os-release(5)'s default "Linux" is for a file without NAME, not for no file).
  const release = readFirst(ctx, [
    ["etc", "os-release"],
    ["usr", "lib", "os-release"],
  ]);
  const { name, version, build, pretty } =
    release === undefined ? { name: "", version: "", build: "", pretty: "" } : parseOsRelease(release);
  const uptime = Number((readText(ctx.root, "proc", "uptime") ?? "").split(" ")[0]);
  return {
    platform: "linux",
    name: clip(name),
    version: clip(version),
    build: clip(build),
    kernel: clip(ctx.os.release()),
    arch: clip(ctx.os.arch(), 32),
    uptime_s: count(Math.floor(Number.isFinite(uptime) ? uptime : ctx.os.uptime())),
    pretty_name: clip(pretty),
  };
}

/**
 * The name from the registry's ProductName, which is English whatever the display language (Caption is
 * translated: "Microsoft Windows 10 Famille"), except that it still says "Windows 10" on Windows 11 (build
 * 22000 and later on a client): that is corrected from the build. The version is what Windows calls it
 * (DisplayVersion "23H2", ReleaseId "1809" before DisplayVersion existed); the kernel is "10.0.22631"; the
 * build carries UBR, the update build revision Windows Update reports ("22631.4460"). EditionID
 * ("ServerStandard", "Professional") and InstallationType ("Server Core") are language-independent too.
 */
export const WINDOWS_OS_COMMAND = [
  "$o = Get-CimInstance Win32_OperatingSystem",
  "$r = Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion'",
  "[pscustomobject]@{ Caption = $o.Caption; Version = $o.Version; BuildNumber = $o.BuildNumber; ProductName = $r.ProductName;" +
    " EditionID = $r.EditionID; InstallationType = $r.InstallationType; UBR = $r.UBR;" +
    " DisplayVersion = $(if ($r.DisplayVersion) { $r.DisplayVersion } else { $r.ReleaseId });" +
    " LastBootUpTime = $o.LastBootUpTime.ToUniversalTime().ToString('o') } | ConvertTo-Json -Compress",
].join("; ");

interface WindowsOs {
  name: string;
  version: string;
  build: string;
  kernel: string;
  uptime_s: number;
  pretty_name: string;
  /** Extra fields: EditionID and InstallationType ("Client", "Server", "Server Core"). */
  edition: string;
  installation_type: string;
}

/** "Windows 10 Pro" on build 22631 of a client is Windows 11 Pro; servers and older builds keep their name. */
function windowsProductName(product: string, build: number, installationType: string): string {
  const named =
    build >= 22000 && installationType === "Client"
      ? product.replace(/^Windows 10\b/, "Windows 11")
      : product;
  return named && !named.startsWith("Microsoft ") ? `Microsoft ${named}` : named;
}

export function parseWindowsOs(text: string, now: Date): WindowsOs {
  const record = asRecord(parsePowerShellJson(text));
  const caption = str(record.Caption).replace(/\s+/g, " ");
  const kernel = str(record.Version);
  const buildNumber = str(record.BuildNumber);
  const ubr = str(record.UBR);
  const displayVersion = str(record.DisplayVersion);
  const installationType = str(record.InstallationType);
  const product = str(record.ProductName).replace(/\s+/g, " ");
  const name =
    windowsProductName(product, Number(buildNumber), installationType) || caption || "Microsoft Windows";
  const boot = powerShellDate(record.LastBootUpTime);
  const core = installationType === "Server Core" ? "Server Core" : "";
  return {
    name: clip(name),
    version: clip(displayVersion || kernel),
    build: clip(ubr && buildNumber ? `${buildNumber}.${ubr}` : buildNumber),
    kernel: clip(kernel),
    uptime_s: Number.isFinite(boot) ? count(Math.floor((now.getTime() - boot) / 1000)) : 0,
    pretty_name: clip([name, core, displayVersion].filter(Boolean).join(" ")),
    edition: clip(str(record.EditionID)),
    installation_type: clip(installationType),
  };
}

/** Kernel version, arch and uptime come from the runtime; the names and the build need PowerShell. */
export async function osWindows(ctx: Context): Promise<OsSection> {
  const runtime: OsSection = {
    platform: "win32",
    name: "",
    version: "",
    build: "",
    kernel: clip(ctx.os.release()),
    arch: clip(ctx.os.arch(), 32),
    uptime_s: count(Math.floor(ctx.os.uptime())),
    pretty_name: "",
  };
  const missing = ["name", "version", "build"];
  const text = await orPartial(runtime, missing, () => ctx.powerShell(WINDOWS_OS_COMMAND));
  const parsed = await orPartial(runtime, missing, async () => parseWindowsOs(text, ctx.now()));
  return { ...runtime, ...parsed, kernel: parsed.kernel || runtime.kernel, uptime_s: runtime.uptime_s };
}
