// Flags shared by the agent's commands, and turning them plus the process's environment into settings.
// This file and the commands are the only places that read process.env, the platform and the home directory.
import { homedir } from "node:os";
import type { ArgsDef } from "citty";
import { readEnvFile } from "../../shared/service/env-file.ts";
import { agentPaths, isPrivileged } from "../paths.ts";
import {
  type AgentSettings,
  type Raw,
  readConfigFile,
  resolveSettings,
  type SettingName,
} from "../settings.ts";

export const commonArgs = {
  config: {
    type: "string",
    description: "JSON config file whose keys are the flag names (default: per platform; env RELEVO_CONFIG)",
  },
  "env-file": {
    type: "string",
    description: "A file of RELEVO_*=value lines, read as environment variables",
  },
  "command-lines": {
    type: "boolean",
    description:
      "Report process command lines; --no-command-lines leaves them out (env RELEVO_NO_COMMAND_LINES)",
  },
  verbose: { type: "boolean", description: "Debug logs and stack traces" },
} as const satisfies ArgsDef;

type Flags = Record<string, string | number | boolean | string[] | undefined>;

/** Settings from the flags, then RELEVO_* variables (the process's, then --env-file's), then the config file. */
export async function loadSettings(args: Flags): Promise<AgentSettings> {
  const fromFile = typeof args["env-file"] === "string" ? await readEnvFile(args["env-file"]) : {};
  // Named on the command line, the file wins over the inherited environment.
  const env: Record<string, string | undefined> = { ...process.env, ...fromFile };
  const platform = process.platform;
  const paths = agentPaths({ platform, env, home: homedir(), privileged: isPrivileged(platform, env) });
  const configFlag = str(args.config) ?? env.RELEVO_CONFIG;
  const config = readConfigFile(configFlag || paths.configFile, Boolean(configFlag));
  const flags: Partial<Record<SettingName, Raw>> = {
    url: str(args.url),
    token: str(args.token),
    interval: str(args.interval),
    timeout: str(args.timeout),
    spool: str(args.spool),
    ca: str(args.ca),
    noCommandLines: args["command-lines"] === undefined ? undefined : args["command-lines"] === false,
    spoolMaxReports: str(args["spool-max-reports"]),
    spoolMaxBytes: str(args["spool-max-bytes"]),
  };
  return resolveSettings({ flags, env, config, paths, cwd: process.cwd() });
}

/** A string flag's value; citty gives an array when a flag is repeated, and the last one wins. */
function str(value: Flags[string]): string | undefined {
  if (Array.isArray(value)) return value.at(-1);
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
}
