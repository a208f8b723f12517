// Services: systemd's service units on Linux (one `systemctl show` for all of them: D-Bus would need a client
// library the agent does not carry), Win32_Service on Windows. A Linux host where systemd is not the
// running init says so in `errors`; a container without it is normal, not an error: its empty list says
// why in `unavailable`.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ServiceItem, Services } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
import { clip } from "./_limits.ts";
import { sortAndHash } from "./_list-hash.ts";
import { asList, parsePowerShellJson, str } from "./_powershell.ts";

const SERVICE_KEYS = ["name"] as const;

export const SYSTEMCTL_SHOW = [
  "systemctl",
  "show",
  "--no-pager",
  "--property=Id,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID,User,ExecStart",
  "--",
  "*.service",
];

export function servicesSection(items: ServiceItem[]): Services {
  const hash = sortAndHash(items, SERVICE_KEYS);
  return { hash, items: items.slice(0, LIMITS.services) };
}

/** `systemctl show` output: one KEY=value block per unit, blocks separated by blank lines. */
export function parseSystemctlShow(text: string): ServiceItem[] {
  const items: ServiceItem[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const values = new Map<string, string>();
    for (const line of block.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trim());
    }
    const id = values.get("Id");
    // Units only referenced (a Wants= of a package not installed) are not services of this host.
    if (!id || values.get("LoadState") === "not-found") continue;
    const pid = Number(values.get("MainPID"));
    const exec = /path=([^ ;]+)/.exec(values.get("ExecStart") ?? "")?.[1] ?? "";
    items.push({
      name: clip(id),
      display_name: clip(values.get("Description") ?? ""),
      state: clip(values.get("ActiveState") ?? "", 32),
      sub_state: clip(values.get("SubState") ?? "", 32),
      start_mode: clip(values.get("UnitFileState") ?? "", 32),
      // A system unit without User= runs as root.
      account: clip(values.get("User") || "root"),
      pid: Number.isSafeInteger(pid) && pid > 0 ? pid : null,
      ...(exec && { path: clip(exec, LIMITS.text) }),
    });
  }
  return items;
}

/** Why there is no systemd to ask, or undefined when it runs (sd_booted's test: /run/systemd/system). */
export function noSystemd(root: string): { container: boolean; message: string } | undefined {
  if (existsSync(join(root, "run", "systemd", "system"))) return undefined;
  const environ = readText(root, "proc", "1", "environ") ?? "";
  const container =
    existsSync(join(root, ".dockerenv")) ||
    existsSync(join(root, "run", ".containerenv")) ||
    environ.split("\0").some((entry) => entry.startsWith("container="));
  const init = (readText(root, "proc", "1", "comm") ?? "").trim();
  const message = container
    ? `systemd is not running in this container${init ? ` (PID 1 is ${init})` : ""}: no services listed`
    : `systemd is not running on this host (no /run/systemd/system${init ? `, PID 1 is ${init}` : ""}): no services listed`;
  return { container, message };
}

export type Systemctl = (argv: string[]) => Promise<string>;

const runSystemctl: Systemctl = async (argv) => {
  const proc = Bun.spawn(argv, {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, SYSTEMD_COLORS: "0" },
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`systemctl show exited with ${code}: ${err.trim().slice(0, 200)}`);
  return out;
};

export async function servicesLinux(ctx: Context, systemctl: Systemctl = runSystemctl): Promise<Services> {
  const missing = noSystemd(ctx.root);
  if (missing) {
    if (!missing.container) ctx.partial(missing.message);
    return { ...servicesSection([]), unavailable: clip(missing.message, LIMITS.text) };
  }
  return servicesSection(parseSystemctlShow(await systemctl(SYSTEMCTL_SHOW)));
}

// ---- Windows ----

export const WINDOWS_SERVICES_COMMAND =
  "ConvertTo-Json -Compress -Depth 2 -InputObject @(Get-CimInstance Win32_Service -Property Name,DisplayName,State,StartMode,StartName,ProcessId,PathName | " +
  "Select-Object Name,DisplayName,State,StartMode,StartName,ProcessId,PathName)";

export function parseWindowsServices(text: string): ServiceItem[] {
  return asList(parsePowerShellJson(text))
    .filter((service) => str(service.Name))
    .map((service) => {
      const pid = Number(service.ProcessId);
      return {
        name: clip(str(service.Name)),
        display_name: clip(str(service.DisplayName)),
        // "Running", "Stopped", "Start Pending"... as lower case words.
        state: clip(str(service.State).toLowerCase(), 32),
        start_mode: clip(str(service.StartMode).toLowerCase(), 32),
        account: clip(str(service.StartName)),
        pid: Number.isSafeInteger(pid) && pid > 0 ? pid : null,
        path: clip(str(service.PathName), LIMITS.text),
      };
    });
}

export async function servicesWindows(ctx: Context): Promise<Services> {
  return servicesSection(parseWindowsServices(await ctx.powerShell(WINDOWS_SERVICES_COMMAND)));
}
