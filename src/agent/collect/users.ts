// Logged-in sessions: who, on which terminal, from where, since when. Linux reads utmp itself (a minimal
// image has no `who`) and falls back to systemd-logind's session files where utmp is gone (newer
// distributions with systemd ≥ 256 no longer write it). Windows asks the Remote Desktop Services API, the
// only source that knows an RDP session's client address.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { UserSession } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { parseKeyValues, readFailure, readText } from "./_files.ts";
import { clip, isoOrNull } from "./_limits.ts";
import { PartialSectionError } from "./_partial.ts";
import { asList, num, parsePowerShellJson, powerShellDate, str } from "./_powershell.ts";

// ---- Linux: utmp ----

/** glibc's struct utmp on x86_64 and arm64 (and every 64-bit Linux with the 32-bit time compat layout). */
export const UTMP = {
  size: 384,
  type: 0, // short ut_type
  pid: 4, // pid_t ut_pid
  line: 8, // char ut_line[32]
  user: 44, // char ut_user[32]
  host: 76, // char ut_host[256]
  seconds: 340, // int32 ut_tv.tv_sec
  address: 348, // int32 ut_addr_v6[4]
  USER_PROCESS: 7,
} as const;

function cString(bytes: Uint8Array, offset: number, length: number): string {
  const slice = bytes.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return new TextDecoder().decode(end < 0 ? slice : slice.subarray(0, end));
}

function utmpAddress(bytes: Uint8Array, offset: number): string {
  const raw = bytes.subarray(offset, offset + 16);
  if (raw.every((b) => b === 0)) return "";
  // IPv4 sits in the first word with the other three zero.
  if (raw.subarray(4).every((b) => b === 0)) return Array.from(raw.subarray(0, 4)).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((raw[i] ?? 0) << 8) | (raw[i + 1] ?? 0)).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

/**
 * The USER_PROCESS records of a utmp file: the sessions `who` lists. A record whose login process is gone
 * (a crash or a kill -9 left it behind) is stale; `isAlive` drops it, as `who` does with kill(pid, 0).
 */
export function parseUtmp(bytes: Uint8Array, isAlive: (pid: number) => boolean = () => true): UserSession[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sessions: UserSession[] = [];
  for (let offset = 0; offset + UTMP.size <= bytes.byteLength; offset += UTMP.size) {
    if (view.getInt16(offset + UTMP.type, true) !== UTMP.USER_PROCESS) continue;
    const name = cString(bytes, offset + UTMP.user, 32);
    if (!name) continue;
    const pid = view.getInt32(offset + UTMP.pid, true);
    if (pid > 0 && !isAlive(pid)) continue;
    let host = cString(bytes, offset + UTMP.host, 256);
    // ":0" or ":1" is a local X display, not a remote host.
    if (host.startsWith(":")) host = "";
    if (!host) host = utmpAddress(bytes, offset + UTMP.address);
    const seconds = view.getInt32(offset + UTMP.seconds, true);
    sessions.push({
      name: clip(name),
      terminal: clip(cString(bytes, offset + UTMP.line, 32)),
      host: clip(host),
      login_at: seconds > 0 ? isoOrNull(new Date(seconds * 1000)) : null,
    });
  }
  return sessions;
}

/** One /run/systemd/sessions/<id> file; only interactive user sessions count (not cron, not the greeter). */
export function parseLogindSession(text: string): UserSession | undefined {
  const values = parseKeyValues(text);
  const name = values.get("USER");
  if (!name || (values.get("CLASS") ?? "user") !== "user") return undefined;
  if (values.get("STATE") === "closing") return undefined;
  const realtimeUs = Number(values.get("REALTIME"));
  return {
    name: clip(name),
    terminal: clip(values.get("TTY") ?? values.get("DISPLAY") ?? ""),
    host: clip(values.get("REMOTE_HOST") ?? ""),
    login_at: realtimeUs > 0 ? isoOrNull(new Date(realtimeUs / 1000)) : null,
  };
}

/** Whether a pid is alive under `root`'s /proc; without a /proc to look in, every pid counts as alive. */
function processAlive(root: string): (pid: number) => boolean {
  const proc = join(root, "proc");
  if (!existsSync(join(proc, "self"))) return () => true;
  return (pid) => existsSync(join(proc, String(pid)));
}

/**
 * utmp first (/var/run is /run on current systems, a directory of its own on old ones), then logind. A utmp
 * that exists but cannot be read is named in `errors`; so is a host with neither source, where sessions
 * (sshd's among them) may well exist but cannot be seen.
 */
export async function usersLinux(ctx: Context): Promise<UserSession[]> {
  let unreadable = false;
  for (const parts of [
    ["run", "utmp"],
    ["var", "run", "utmp"],
  ]) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(join(ctx.root, ...parts));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" && !unreadable) {
        ctx.partial(readFailure(parts, error));
        unreadable = true;
      }
      continue;
    }
    return parseUtmp(bytes, processAlive(ctx.root)).slice(0, LIMITS.users);
  }
  let files: string[];
  try {
    files = readdirSync(join(ctx.root, "run", "systemd", "sessions")).filter((file) => !file.includes("."));
  } catch (error) {
    if (!unreadable) {
      const cause =
        (error as NodeJS.ErrnoException).code === "ENOENT"
          ? ""
          : ` (${readFailure(["run", "systemd", "sessions"], error)})`;
      ctx.partial(
        `sessions could not be read: no utmp (/run/utmp, /var/run/utmp) and no systemd-logind sessions${cause}`,
      );
    }
    return [];
  }
  return files
    .map((file) => parseLogindSession(readText(ctx.root, "run", "systemd", "sessions", file) ?? ""))
    .filter((session) => session !== undefined)
    .slice(0, LIMITS.users);
}

// ---- Windows: WTS API ----

/**
 * Lists the sessions through wtsapi32 (WTSEnumerateSessions, then WTSSessionInfo and WTSClientAddress for
 * each), compiled once per PowerShell session. `query user` would give names and session names but no
 * client address, and its logon time comes formatted in the local culture.
 */
const WTS_TYPE = `
using System; using System.Collections.Generic; using System.Runtime.InteropServices;
namespace Relevo {
public class WtsSession { public int Id { get; set; } public string Station { get; set; } public string State { get; set; } public string User { get; set; } public string Domain { get; set; } public string Client { get; set; } public string LogonTime { get; set; } }
public static class Wts {
  [DllImport("wtsapi32.dll", SetLastError = true)] static extern bool WTSEnumerateSessionsW(IntPtr server, int reserved, int version, out IntPtr info, out int count);
  [DllImport("wtsapi32.dll", SetLastError = true)] static extern bool WTSQuerySessionInformationW(IntPtr server, int session, int infoClass, out IntPtr buffer, out int bytes);
  [DllImport("wtsapi32.dll")] static extern void WTSFreeMemory(IntPtr memory);
  [StructLayout(LayoutKind.Sequential)] struct SessionInfo { public int SessionId; public IntPtr WinStationName; public int State; }
  [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)] struct Info {
    public int State; public int SessionId; public int InBytes, OutBytes, InFrames, OutFrames, InCompressed, OutCompressed;
    [MarshalAs(UnmanagedType.ByValTStr, SizeConst = 32)] public string WinStationName;
    [MarshalAs(UnmanagedType.ByValTStr, SizeConst = 17)] public string Domain;
    [MarshalAs(UnmanagedType.ByValTStr, SizeConst = 21)] public string UserName;
    public long ConnectTime, DisconnectTime, LastInputTime, LogonTime, CurrentTime; }
  static readonly string[] States = { "active", "connected", "connect-query", "shadow", "disconnected", "idle", "listen", "reset", "down", "init" };
  public static List<WtsSession> Sessions() {
    var result = new List<WtsSession>(); IntPtr list; int count;
    if (!WTSEnumerateSessionsW(IntPtr.Zero, 0, 1, out list, out count)) throw new System.ComponentModel.Win32Exception();
    try {
      int size = Marshal.SizeOf(typeof(SessionInfo));
      for (int i = 0; i < count; i++) {
        var s = (SessionInfo)Marshal.PtrToStructure(new IntPtr(list.ToInt64() + i * size), typeof(SessionInfo));
        IntPtr buffer; int bytes;
        if (!WTSQuerySessionInformationW(IntPtr.Zero, s.SessionId, 24, out buffer, out bytes)) continue;
        var info = (Info)Marshal.PtrToStructure(buffer, typeof(Info)); WTSFreeMemory(buffer);
        if (String.IsNullOrEmpty(info.UserName)) continue;
        string client = "";
        if (WTSQuerySessionInformationW(IntPtr.Zero, s.SessionId, 14, out buffer, out bytes)) {
          int family = Marshal.ReadInt32(buffer); var a = new byte[20]; Marshal.Copy(new IntPtr(buffer.ToInt64() + 4), a, 0, 20);
          if (family == 2) client = a[2] + "." + a[3] + "." + a[4] + "." + a[5];
          else if (family == 23) { var v6 = new byte[16]; Array.Copy(a, 2, v6, 0, 16); client = new System.Net.IPAddress(v6).ToString(); }
          WTSFreeMemory(buffer);
        }
        result.Add(new WtsSession { Id = s.SessionId, Station = Marshal.PtrToStringUni(s.WinStationName), State = s.State >= 0 && s.State < States.Length ? States[s.State] : "unknown",
          User = info.UserName, Domain = info.Domain, Client = client, LogonTime = info.LogonTime > 0 ? DateTime.FromFileTimeUtc(info.LogonTime).ToString("o") : "" });
      }
    } finally { WTSFreeMemory(list); }
    return result;
  }
}}`;

/**
 * OpenSSH for Windows sessions are network logons the WTS API does not list: each one is an sshd.exe (or,
 * from OpenSSH 9.8, sshd-session.exe) running as the user, under the SYSTEM-owned process that holds the
 * TCP connection to the client. A process whose parent is also such a user-owned sshd (an sftp subsystem)
 * is the same session. GetOwner is one call per sshd process, a handful even on a busy jump host.
 */
const SSH_SESSIONS =
  "$ssh = @(); $sshError = $null; try { $sp = @(Get-CimInstance Win32_Process -Filter \"Name='sshd.exe' OR Name='sshd-session.exe'\"); " +
  "$mine = @{}; foreach ($p in $sp) { $o = Invoke-CimMethod -InputObject $p -MethodName GetOwner; if ($o.User -and $o.User -ne 'SYSTEM' -and $o.User -ne 'sshd') { $mine[[int]$p.ProcessId] = $o } }; " +
  "$ssh = @(foreach ($p in $sp) { $o = $mine[[int]$p.ProcessId]; if (-not $o -or $mine.ContainsKey([int]$p.ParentProcessId)) { continue }; " +
  "$c = @(Get-NetTCPConnection -State Established -OwningProcess $p.ProcessId,$p.ParentProcessId -ErrorAction SilentlyContinue)[0]; " +
  "[pscustomobject]@{ Id = [int]$p.ProcessId; Station = 'ssh'; State = 'active'; User = $o.User; Domain = $o.Domain; Client = $(if ($c) { [string]$c.RemoteAddress } else { '' }); " +
  "LogonTime = $(if ($p.CreationDate) { $p.CreationDate.ToUniversalTime().ToString('o') } else { '' }) } }) } catch { $sshError = $_.Exception.Message }";

/** Prints {w: WTS sessions, s: OpenSSH sessions, e: why the OpenSSH part failed, or null}. */
export const WINDOWS_USERS_COMMAND =
  `if (-not ('Relevo.Wts' -as [type])) { Add-Type -TypeDefinition ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${Buffer.from(WTS_TYPE.trim()).toString("base64")}'))) }; ` +
  `${SSH_SESSIONS}; ` +
  "ConvertTo-Json -Compress -Depth 3 -InputObject ([pscustomobject]@{ w = @([Relevo.Wts]::Sessions()); s = $ssh; e = $sshError })";

/** The C# source of the WTS type (tests compile it under pwsh). */
export const WTS_TYPE_SOURCE = WTS_TYPE.trim();

type WindowsSession = UserSession & { domain: string; state: string };

function windowsSession(session: Record<string, unknown>): WindowsSession {
  const logon = powerShellDate(session.LogonTime);
  const station = str(session.Station);
  return {
    name: clip(str(session.User)),
    // A disconnected session has no station name left; its id still tells sessions apart.
    terminal: clip(station || `session ${num(session.Id)}`),
    host: clip(str(session.Client)),
    login_at: Number.isFinite(logon) ? isoOrNull(new Date(logon)) : null,
    domain: clip(str(session.Domain)),
    // "active" or "disconnected" (and the rarer WTS states), as the WTS API names them.
    state: clip(str(session.State)),
  };
}

/**
 * Sessions with a user: the console, RDP sessions (with the client's address), disconnected ones, and
 * OpenSSH sessions. Also reads the older plain list of WTS sessions.
 */
export function parseWindowsSessions(text: string): { sessions: WindowsSession[]; sshError: string } {
  const parsed = parsePowerShellJson(text);
  const root =
    typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && "w" in parsed
      ? (parsed as Record<string, unknown>)
      : { w: parsed, s: [], e: null };
  const sessions = [...asList(root.w), ...asList(root.s)]
    .filter((session) => str(session.User))
    .map(windowsSession)
    .slice(0, LIMITS.users);
  return { sessions, sshError: str(root.e) };
}

export async function usersWindows(ctx: Context): Promise<UserSession[]> {
  const { sessions, sshError } = parseWindowsSessions(await ctx.powerShell(WINDOWS_USERS_COMMAND));
  if (sshError) throw new PartialSectionError(sessions, `OpenSSH sessions not read: ${sshError}`);
  return sessions;
}
