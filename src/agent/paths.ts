// Where the agent keeps its spool and looks for its config file, per platform: every platform difference in
// file locations lives here. Pure: the CLI hands in the platform, the environment, the home directory and
// whether the agent runs as a service account (root, SYSTEM), so tests cover Windows paths on Linux.
import { posix, win32 } from "node:path";

export interface PathContext {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  home: string;
  /** root on Unix, SYSTEM (or another service account) on Windows. */
  privileged: boolean;
}

export interface AgentPaths {
  /** Reports waiting for the server. */
  spoolDir: string;
  /** The default config file (JSON); a missing default file is not an error. */
  configFile: string;
}

export function agentPaths(ctx: PathContext): AgentPaths {
  const { env, home } = ctx;
  if (ctx.platform === "win32") {
    const programData = env.ProgramData || env.PROGRAMDATA || "C:\\ProgramData";
    // A service account has no useful profile; an interactive user keeps their own copy.
    const stateRoot = ctx.privileged
      ? win32.join(programData, "relevo")
      : win32.join(env.LOCALAPPDATA || win32.join(home, "AppData", "Local"), "relevo");
    const configRoot = ctx.privileged
      ? win32.join(programData, "relevo")
      : win32.join(env.APPDATA || win32.join(home, "AppData", "Roaming"), "relevo");
    return { spoolDir: win32.join(stateRoot, "spool"), configFile: win32.join(configRoot, "agent.json") };
  }
  // systemd's StateDirectory= hands the service its directory in $STATE_DIRECTORY (maybe several, ':'-separated).
  const systemdState = env.STATE_DIRECTORY?.split(":")[0];
  if (ctx.platform === "darwin" && !ctx.privileged) {
    const support = posix.join(home, "Library", "Application Support", "relevo");
    return {
      spoolDir: systemdState ? posix.join(systemdState, "spool") : posix.join(support, "spool"),
      configFile: posix.join(support, "agent.json"),
    };
  }
  if (ctx.privileged) {
    return {
      spoolDir: posix.join(systemdState || "/var/lib/relevo-agent", "spool"),
      configFile: "/etc/relevo/agent.json",
    };
  }
  const xdgState = absolute(env.XDG_STATE_HOME) ?? posix.join(home, ".local", "state");
  const xdgConfig = absolute(env.XDG_CONFIG_HOME) ?? posix.join(home, ".config");
  return {
    spoolDir: systemdState ? posix.join(systemdState, "spool") : posix.join(xdgState, "relevo", "spool"),
    configFile: posix.join(xdgConfig, "relevo", "agent.json"),
  };
}

/** XDG says a relative path in these variables is invalid and must be ignored. */
function absolute(value: string | undefined): string | undefined {
  return value && posix.isAbsolute(value) ? value : undefined;
}

/** Whether this process runs as root (Unix) or as a Windows service account such as SYSTEM. */
export function isPrivileged(platform: NodeJS.Platform, env: Record<string, string | undefined>): boolean {
  if (platform === "win32") {
    // SYSTEM's USERNAME is the machine account (`HOST$`) and its profile lives under system32.
    const user = env.USERNAME ?? "";
    return (
      user.endsWith("$") || user.toUpperCase() === "SYSTEM" || /systemprofile/i.test(env.USERPROFILE ?? "")
    );
  }
  return process.getuid?.() === 0;
}
