// Installed software on Windows, from every place an install leaves its mark: the Uninstall keys of HKLM
// (64-bit view and WOW6432Node), of every user hive that is loaded (HKU) and of every profile that is not
// (its NTUSER.DAT loaded under a name of our own and unloaded again at once, after a GC so no handle keeps
// the file locked), MSIX/Appx packages of all users, and hotfixes. One PowerShell command for all of them.
import type { Software, SoftwareItem } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { clip, count, isoOrNull } from "./_limits.ts";
import { PartialSectionError } from "./_partial.ts";
import { asList, asRecord, num, parsePowerShellJson, str } from "./_powershell.ts";
import { softwareSection } from "./software.ts";

const UNINSTALL = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*";

/** Prints {r: uninstall entries, a: Appx packages, h: hotfixes, p: profiles, w: sources that failed}. */
export const WINDOWS_SOFTWARE_COMMAND = `
$w = [System.Collections.Generic.List[string]]::new()
function Read-RelevoUninstall([string]$path, [string]$source) {
  try {
    @(Get-ItemProperty -Path $path -ErrorAction Stop | Where-Object { $_.DisplayName } | ForEach-Object {
      [pscustomobject]@{ n = [string]$_.DisplayName; v = [string]$_.DisplayVersion; p = [string]$_.Publisher; d = [string]$_.InstallDate
        z = $_.EstimatedSize; c = [string]$_.SystemComponent; k = [string]$_.ParentKeyName; s = $source; u = [string]$_.PSPath }
    })
  } catch [System.Management.Automation.ItemNotFoundException] { @() } catch { $w.Add("$($path): $($_.Exception.Message)"); @() }
}
$r = [System.Collections.Generic.List[object]]::new()
$r.AddRange(@(Read-RelevoUninstall 'HKLM:\\${UNINSTALL}' 'registry'))
$r.AddRange(@(Read-RelevoUninstall 'HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*' 'registry-wow64'))
$r.AddRange(@(Read-RelevoUninstall 'Registry::HKEY_USERS\\*\\${UNINSTALL}' 'registry-user'))
$p = @()
try { $p = @(Get-CimInstance Win32_UserProfile -Property SID,LocalPath,Loaded,Special | Where-Object { -not $_.Special } | Select-Object SID,LocalPath,Loaded) } catch { $w.Add("user profiles: $($_.Exception.Message)") }
foreach ($prof in $p) {
  if ($prof.Loaded -or -not $prof.LocalPath) { continue }
  $hive = "HKU\\relevo_$($prof.SID)"
  $out = & reg.exe load $hive "$($prof.LocalPath)\\NTUSER.DAT" 2>&1
  if ($LASTEXITCODE -ne 0) { $w.Add("the hive of $($prof.LocalPath) was not loaded: $(([string]$out).Trim())"); continue }
  try { $r.AddRange(@(Read-RelevoUninstall "Registry::HKEY_USERS\\relevo_$($prof.SID)\\${UNINSTALL}" 'registry-user')) }
  finally { [GC]::Collect(); [GC]::WaitForPendingFinalizers(); $null = & reg.exe unload $hive 2>&1; if ($LASTEXITCODE -ne 0) { $w.Add("$hive could not be unloaded") } }
}
$a = @()
if (Get-Command Get-AppxPackage -ErrorAction SilentlyContinue) {
  try {
    $a = @(Get-AppxPackage -AllUsers | Where-Object { -not $_.IsFramework -and -not $_.IsResourcePackage } | ForEach-Object {
      [pscustomobject]@{ n = [string]$_.Name; v = [string]$_.Version; p = [string]$_.Publisher; x = [string]$_.Architecture; l = [string]$_.InstallLocation
        u = @($_.PackageUserInformation | Where-Object { [string]$_.InstallState -eq 'Installed' } | ForEach-Object { [string]$_.UserSecurityId.Username }) }
    })
  } catch { $w.Add("Appx packages: $($_.Exception.Message)") }
}
$h = @()
try { $h = @(Get-CimInstance Win32_QuickFixEngineering -Property HotFixID,Description,InstalledOn | ForEach-Object { [pscustomobject]@{ n = [string]$_.HotFixID; t = [string]$_.Description; d = [string]$_.InstalledOn } }) } catch { $w.Add("hotfixes: $($_.Exception.Message)") }
ConvertTo-Json -Compress -Depth 4 -InputObject ([pscustomobject]@{ r = $r.ToArray(); a = $a; h = $h; p = $p; w = $w.ToArray() })
`.trim();

/** InstallDate of an Uninstall key: yyyyMMdd (what MSI writes); anything else is unknown. */
function registryDate(text: string): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.getUTCDate() === Number(m[3]) ? isoOrNull(date) : null;
}

/** Win32_QuickFixEngineering.InstalledOn: M/d/yyyy, or a FILETIME in hex on some older hotfixes. */
function hotfixDate(text: string): string | null {
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text.trim());
  if (us) {
    const date = new Date(Date.UTC(Number(us[3]), Number(us[1]) - 1, Number(us[2])));
    return date.getUTCMonth() === Number(us[1]) - 1 ? isoOrNull(date) : null;
  }
  if (/^[0-9a-fA-F]{15,16}$/.test(text.trim())) {
    const ms = Number(BigInt(`0x${text.trim()}`) / 10_000n) - 11_644_473_600_000;
    return isoOrNull(new Date(ms));
  }
  return null;
}

/** "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond": the organisation, else the common name. */
function publisherName(dn: string): string {
  return /(?:^|,\s*)O=("?)([^,"]+)\1/.exec(dn)?.[2] ?? /(?:^|,\s*)CN=("?)([^,"]+)\1/.exec(dn)?.[2] ?? dn;
}

/** The user a per-user hive belongs to: the profile folder's name, found by the SID in the key's path. */
function hiveUser(psPath: string, profiles: Map<string, string>): string {
  const sid = /HKEY_USERS\\(?:relevo_)?([^\\]+)\\/i.exec(psPath)?.[1] ?? "";
  return profiles.get(sid.toUpperCase()) ?? sid;
}

const leaf = (path: string) => path.split("\\").filter(Boolean).pop() ?? "";

export interface WindowsSoftware {
  items: SoftwareItem[];
  warnings: string[];
}

export function parseWindowsSoftware(text: string): WindowsSoftware {
  const root = asRecord(parsePowerShellJson(text));
  const profiles = new Map(
    asList(root.p).map((profile) => [str(profile.SID).toUpperCase(), leaf(str(profile.LocalPath))]),
  );
  const items: SoftwareItem[] = [];
  const machineWide = new Set<string>();
  const entries = asList(root.r).filter(
    // Hidden components and the updates of another entry are not programs (Programs and Features agrees).
    (entry) => str(entry.n) && str(entry.c) !== "1" && !str(entry.k),
  );
  // The 64-bit view first, so a product that wrote itself into both views is listed once, as 64-bit.
  for (const source of ["registry", "registry-wow64", "registry-user"]) {
    for (const entry of entries.filter((one) => str(one.s) === source)) {
      const key = `${str(entry.n)}\0${str(entry.v)}\0${str(entry.p)}`;
      if (source === "registry-wow64" && machineWide.has(key)) continue;
      if (source === "registry") machineWide.add(key);
      const size = num(entry.z);
      items.push({
        name: clip(str(entry.n)),
        version: clip(str(entry.v)),
        vendor: clip(str(entry.p)),
        arch: source === "registry" ? "x64" : source === "registry-wow64" ? "x86" : "",
        install_date: registryDate(str(entry.d)),
        size_bytes: size > 0 ? count(size * 1024) : null,
        source,
        ...(source === "registry-user" && { user: clip(hiveUser(str(entry.u), profiles)) }),
      });
    }
  }
  for (const app of asList(root.a)) {
    const base = {
      name: clip(str(app.n)),
      version: clip(str(app.v)),
      vendor: clip(publisherName(str(app.p))),
      arch: clip(str(app.x).toLowerCase(), 32),
      install_date: null,
      size_bytes: null,
      source: "appx",
    };
    const users = (Array.isArray(app.u) ? app.u : [app.u]).map(str).filter(Boolean);
    // Provisioned for new users but installed for nobody yet: listed once, without a user.
    if (!users.length) items.push(base);
    for (const user of users) items.push({ ...base, user: clip(user) });
  }
  for (const fix of asList(root.h)) {
    if (!str(fix.n)) continue;
    items.push({
      name: clip(str(fix.n)),
      version: "",
      vendor: "Microsoft Corporation",
      arch: "",
      install_date: hotfixDate(str(fix.d)),
      size_bytes: null,
      source: "hotfix",
      // "Security Update", "Update": what kind of hotfix.
      ...(str(fix.t) && { description: clip(str(fix.t)) }),
    });
  }
  const warnings = (Array.isArray(root.w) ? root.w : [root.w]).map(str).filter(Boolean);
  return { items, warnings };
}

export async function softwareWindows(ctx: Context): Promise<Software> {
  const { items, warnings } = parseWindowsSoftware(await ctx.powerShell(WINDOWS_SOFTWARE_COMMAND));
  const section = softwareSection(items);
  if (warnings.length) throw new PartialSectionError(section, warnings.join("; "));
  return section;
}
