// What makes a re-registration the same machine: /etc/machine-id on Linux, the MachineGuid in the registry
// on Windows. Null when neither can be read; the server then goes by hostname and OS.
import { readFileSync } from "node:fs";
import { win32 } from "node:path";

/** The GUID in `reg query HKLM\SOFTWARE\Microsoft\Cryptography /v MachineGuid` output. */
export function parseMachineGuid(output: string): string | null {
  return (
    /MachineGuid\s+REG_SZ\s+([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})/
      .exec(output)?.[1]
      ?.toLowerCase() ?? null
  );
}

export function parseLinuxMachineId(text: string): string | null {
  const id = text.trim();
  return /^[0-9a-f]{32}$/.test(id) ? id : null;
}

export function machineId(platform: NodeJS.Platform, env: Record<string, string | undefined>): string | null {
  if (platform === "win32") {
    const reg = win32.join(env.SystemRoot ?? env.windir ?? "C:\\Windows", "System32", "reg.exe");
    try {
      const run = Bun.spawnSync(
        [reg, "query", "HKLM\\SOFTWARE\\Microsoft\\Cryptography", "/v", "MachineGuid"],
        {
          stdout: "pipe",
          stderr: "ignore",
        },
      );
      return run.exitCode === 0 ? parseMachineGuid(run.stdout.toString()) : null;
    } catch {
      return null;
    }
  }
  for (const path of ["/etc/machine-id", "/var/lib/dbus/machine-id"]) {
    try {
      const id = parseLinuxMachineId(readFileSync(path, "utf8"));
      if (id) return id;
    } catch {}
  }
  return null;
}
