// PowerShell 7 for the tests that run the agent's scripts for real: `pwsh` on PATH, or where
// `dotnet tool install --global PowerShell` puts it (.ci/run installs it there).
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

function findPwsh(): string | undefined {
  const onPath = Bun.which("pwsh");
  if (onPath) return onPath;
  const tool = join(homedir(), ".dotnet", "tools", process.platform === "win32" ? "pwsh.exe" : "pwsh");
  return existsSync(tool) ? tool : undefined;
}

export const PWSH = findPwsh();
export const NO_PWSH_REASON =
  "pwsh not found on PATH or in ~/.dotnet/tools (install: dotnet tool install --global PowerShell --version 7.6.9)";
if (!PWSH) console.warn(`skipping the PowerShell tests: ${NO_PWSH_REASON}`);

/** pwsh's own flags for the agent's session, and an environment that keeps it quiet and offline. */
export function pwshArgv(pwsh: string): string[] {
  return [pwsh, "-NoProfile", "-NoLogo", "-NonInteractive", "-Command", "-"];
}

export const PWSH_ENV: Record<string, string | undefined> = {
  ...process.env,
  TERM: "dumb",
  NO_COLOR: "1",
  POWERSHELL_TELEMETRY_OPTOUT: "1",
  POWERSHELL_UPDATECHECK: "Off",
  DOTNET_CLI_TELEMETRY_OPTOUT: "1",
  DOTNET_NOLOGO: "1",
};
