// The real collector for the commands. On Windows the collectors keep one Windows PowerShell 5.1 open (the
// one every Windows Server has), started by its full path so a powershell.exe in the working directory or
// on PATH is never picked; on Linux everything is read from /proc and /sys in-process.
import { win32 } from "node:path";
import { powerShellArgv } from "../collect/_ps-session.ts";
import type { CollectOptions } from "../collect/index.ts";

export async function collectorOptions(
  platform: NodeJS.Platform,
  commandLines: boolean,
): Promise<CollectOptions> {
  if (platform !== "win32") return { platform, commandLines };
  const systemRoot = process.env.SystemRoot ?? process.env.windir ?? "C:\\Windows";
  const executable = win32.join(systemRoot, "System32", "WindowsPowerShell", "v1.0", "powershell.exe");
  return { platform, commandLines, powerShellArgv: powerShellArgv(executable) };
}
