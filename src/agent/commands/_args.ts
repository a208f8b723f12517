// The agent's flags, made from the settings' one definition, and turning them plus the process's environment
// into settings.
// This file and the commands are the only places that read process.env, the platform and the home directory.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import type { ArgsDef } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { errorMessage } from "../../shared/errors.ts";
import { readEnvFile } from "../../shared/service/env-file.ts";
import { agentPaths, isPrivileged } from "../paths.ts";
import {
  type AgentSettings,
  MiB,
  type Raw,
  readConfigFile,
  resolveSettings,
  SETTINGS,
  type SettingName,
} from "../settings.ts";

/** A setting's flag as citty knows it: `--no-command-lines` is the negative of the boolean `command-lines`. */
function argName(name: SettingName): { key: string; negated: boolean } {
  const flag: string = SETTINGS[name].flag;
  const negated = SETTINGS[name].kind === "flag" && flag.startsWith("no-");
  return { key: negated ? flag.slice(3) : flag, negated };
}

function shownDefault(spec: (typeof SETTINGS)[SettingName]): string {
  if ("defaultText" in spec) return `default: ${spec.defaultText}; `;
  if (!("default" in spec) || spec.default === false) return "";
  if (spec.kind === "bytes" && typeof spec.default === "number") return `default ${spec.default / MiB} MiB; `;
  return `default ${spec.default}; `;
}

/** The flags of these settings, from their one definition in settings.ts. */
export function settingArgs(names: readonly SettingName[]): ArgsDef {
  const args: ArgsDef = {};
  for (const name of names) {
    const spec = SETTINGS[name];
    const { key, negated } = argName(name);
    const description = `${spec.description} (${shownDefault(spec)}env ${spec.env})`;
    args[key] =
      spec.kind === "flag"
        ? negated
          ? { type: "boolean", description: `Opposite of --${spec.flag}`, negativeDescription: description }
          : { type: "boolean", description }
        : { type: "string", description };
  }
  return args;
}

/** The settings' values as given on the command line (absent ones undefined). */
export function settingFlags(args: Flags): Partial<Record<SettingName, Raw>> {
  const flags: Partial<Record<SettingName, Raw>> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const { key, negated } = argName(name);
    const value = args[key];
    if (SETTINGS[name].kind === "flag") {
      flags[name] = typeof value === "boolean" ? (negated ? !value : value) : undefined;
    } else flags[name] = str(value);
  }
  return flags;
}

export const commonArgs = {
  config: {
    type: "string",
    description: "JSON config file whose keys are the flag names (default: per platform; env RELEVO_CONFIG)",
  },
  "env-file": {
    type: "string",
    description: "A file of RELEVO_*=value lines, read as environment variables",
  },
  ...settingArgs(["noCommandLines"]),
  verbose: { type: "boolean", description: "Debug logs and stack traces" },
} as const satisfies ArgsDef;

export type Flags = Record<string, string | number | boolean | string[] | undefined>;

/** Settings from the flags, then RELEVO_* variables (the process's, then --env-file's), then the config file. */
export async function loadSettings(args: Flags): Promise<AgentSettings> {
  const fromFile = typeof args["env-file"] === "string" ? await readEnvFile(args["env-file"]) : {};
  // Named on the command line, the file wins over the inherited environment.
  const env: Record<string, string | undefined> = { ...process.env, ...fromFile };
  const platform = process.platform;
  const paths = agentPaths({ platform, env, home: homedir(), privileged: isPrivileged(platform, env) });
  const configFlag = str(args.config) ?? env.RELEVO_CONFIG;
  const config = readConfigFile(configFlag || paths.configFile, Boolean(configFlag));
  return resolveSettings({ flags: settingFlags(args), env, config, paths, cwd: process.cwd() });
}

/** A string flag's value; citty gives an array when a flag is repeated, and the last one wins. */
export function str(value: Flags[string]): string | undefined {
  if (Array.isArray(value)) return value.at(-1);
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
}

/** The --ca file's PEM text, or undefined without one; a file that cannot be read is a usage error. */
export function readCa(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read the CA file ${path}: ${errorMessage(error)}`);
  }
}
