// The agent's settings: each one from its flag, else its RELEVO_* environment variable, else the config file,
// else its default; an environment variable never overrides an explicit flag. The CLI hands in the parsed
// flags, the environment and the config file's contents; nothing here reads process.env (only the config file).
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { UsageError } from "../shared/cli.ts";
import { errorCode, errorMessage } from "../shared/errors.ts";
import type { AgentPaths } from "./paths.ts";

export const MiB = 1024 * 1024;

export interface AgentSettings {
  /** The upload endpoint: the base URL given plus `/upload`. Undefined when no URL was given at all. */
  uploadUrl: URL | undefined;
  token: string | undefined;
  /** Registers the agent when it has no identity yet (see identity.ts). */
  enrollToken?: string | undefined;
  intervalS: number;
  timeoutS: number;
  spoolDir: string;
  /** Path of a PEM file with the private CA to trust, if any. */
  caFile: string | undefined;
  commandLines: boolean;
  spoolMaxReports: number;
  spoolMaxBytes: number;
  /** A minisign public key file trusted for self-update besides the keys built in. */
  updateKeyFile?: string | undefined;
  autoUpdate?: boolean;
}

type Kind = "url" | "text" | "path" | "seconds" | "count" | "bytes" | "flag";

interface Spec {
  /** The flag without dashes, which is also the config file's key. */
  flag: string;
  env: string;
  kind: Kind;
  min?: number;
  max?: number;
  default?: number | boolean;
  /** How --help names a default that is not a constant. */
  defaultText?: string;
  /** For --help; the default and the environment variable are added to it. */
  description: string;
}

/**
 * Every setting, once, in the order `--help` and the errors name them: `run`'s and `install`'s flags, the
 * defaults, the environment variables and the config file's keys all come from here.
 */
export const SETTINGS = {
  url: { flag: "url", env: "RELEVO_URL", kind: "url", description: "The server, e.g. http://127.0.0.1:5000" },
  token: {
    flag: "token",
    env: "RELEVO_TOKEN",
    kind: "text",
    description: "Token sent as Bearer: ingest (log: or a logs token)",
  },
  enrollToken: {
    flag: "enroll-token",
    env: "RELEVO_ENROLL_TOKEN",
    kind: "text",
    description: "Enroll token: register with the server first if not registered yet",
  },
  interval: {
    flag: "interval",
    env: "RELEVO_INTERVAL",
    kind: "seconds",
    min: 1,
    max: 7 * 86_400,
    default: 300,
    description: "Seconds between reports, plus up to 10 % jitter",
  },
  timeout: {
    flag: "timeout",
    env: "RELEVO_TIMEOUT",
    kind: "seconds",
    min: 1,
    max: 3_600,
    default: 30,
    description: "Seconds to wait for the server",
  },
  spool: {
    flag: "spool",
    env: "RELEVO_SPOOL",
    kind: "path",
    defaultText: "per platform",
    description: "Directory of undelivered reports and log batches",
  },
  ca: { flag: "ca", env: "RELEVO_CA", kind: "path", description: "PEM file of a private CA to trust" },
  noCommandLines: {
    flag: "no-command-lines",
    env: "RELEVO_NO_COMMAND_LINES",
    kind: "flag",
    default: false,
    description: "Leave process command lines out of reports",
  },
  spoolMaxReports: {
    flag: "spool-max-reports",
    env: "RELEVO_SPOOL_MAX_REPORTS",
    kind: "count",
    min: 1,
    max: 1_000_000,
    default: 1_000,
    description: "Most reports kept in the spool",
  },
  spoolMaxBytes: {
    flag: "spool-max-bytes",
    env: "RELEVO_SPOOL_MAX_BYTES",
    kind: "bytes",
    min: 64 * 1024,
    max: 1024 ** 4,
    default: 100 * MiB,
    description: "Most bytes kept in the spool, e.g. 100M",
  },
  updateKey: {
    flag: "update-key",
    env: "RELEVO_UPDATE_KEY",
    kind: "path",
    description: "A minisign public key file trusted for self-update, besides the built-in ones",
  },
  noAutoUpdate: {
    flag: "no-auto-update",
    env: "RELEVO_NO_AUTO_UPDATE",
    kind: "flag",
    default: false,
    description: "Never update itself (no daily check, server update requests refused)",
  },
} as const satisfies Record<string, Spec>;

export type SettingName = keyof typeof SETTINGS;

type WithDefault = {
  [K in SettingName]: (typeof SETTINGS)[K] extends { default: unknown } ? K : never;
}[SettingName];

export const DEFAULTS = Object.fromEntries(
  Object.entries(SETTINGS).flatMap(([name, spec]) => ("default" in spec ? [[name, spec.default]] : [])),
) as { [K in WithDefault]: (typeof SETTINGS)[K]["default"] };

/** Values as they arrive: strings from flags and the environment, JSON values from the config file. */
export type Raw = string | number | boolean | undefined;

export interface SettingsInput {
  /** Flags as given on the command line (absent ones undefined). */
  flags: Partial<Record<SettingName, Raw>>;
  env: Record<string, string | undefined>;
  /** The config file's object, and the file's path for messages and relative paths. */
  config?: { file: string; values: Record<string, unknown> };
  paths: AgentPaths;
  /** Relative paths on the command line or in the environment are taken from here. */
  cwd: string;
}

export interface Source {
  raw: Raw;
  /** How to name it in an error: `--interval`, `RELEVO_INTERVAL`, `"interval" in FILE`. */
  where: string;
  /** Relative paths are resolved against it. */
  base: string;
}

/** Finds where a setting comes from: flag, then environment, then config file; undefined for the default. */
function pick(name: SettingName, input: SettingsInput): Source | undefined {
  const spec: Spec = SETTINGS[name];
  const flag = input.flags[name];
  if (flag !== undefined) return { raw: flag, where: `--${spec.flag}`, base: input.cwd };
  const env = input.env[spec.env];
  if (env !== undefined && env !== "") return { raw: env, where: spec.env, base: input.cwd };
  const config = input.config;
  if (config && spec.flag in config.values) {
    const raw = config.values[spec.flag];
    if (raw === null) return undefined;
    if (typeof raw !== "string" && typeof raw !== "number" && typeof raw !== "boolean") {
      throw new UsageError(`"${spec.flag}" in ${config.file} must be a string, number or boolean`);
    }
    return { raw, where: `"${spec.flag}" in ${config.file}`, base: dirname(config.file) };
  }
  return undefined;
}

/** One setting's value from one source, checked the same way for `run`, `install` and the config file. */
export function parseSetting(name: SettingName, source: Source): URL | string | number | boolean {
  const spec: Spec = SETTINGS[name];
  switch (spec.kind) {
    case "url":
      return parseUploadUrl(String(source.raw), source.where);
    case "text":
      return parseToken(source.raw, source.where);
    case "path":
      return parsePath(source);
    case "flag":
      return parseBool(source.raw, source.where);
    default:
      return parseNumber(source, spec);
  }
}

export function resolveSettings(input: SettingsInput): AgentSettings {
  const get = <T>(name: SettingName): T | undefined => {
    const source = pick(name, input);
    return source === undefined ? undefined : (parseSetting(name, source) as T);
  };
  return {
    uploadUrl: get<URL>("url"),
    token: get<string>("token"),
    enrollToken: get<string>("enrollToken"),
    intervalS: get<number>("interval") ?? DEFAULTS.interval,
    timeoutS: get<number>("timeout") ?? DEFAULTS.timeout,
    spoolDir: get<string>("spool") ?? input.paths.spoolDir,
    caFile: get<string>("ca"),
    commandLines: !(get<boolean>("noCommandLines") ?? DEFAULTS.noCommandLines),
    spoolMaxReports: get<number>("spoolMaxReports") ?? DEFAULTS.spoolMaxReports,
    spoolMaxBytes: get<number>("spoolMaxBytes") ?? DEFAULTS.spoolMaxBytes,
    updateKeyFile: get<string>("updateKey"),
    autoUpdate: !(get<boolean>("noAutoUpdate") ?? DEFAULTS.noAutoUpdate),
  };
}

/**
 * The upload endpoint from what the admin typed: a base URL (`http://host:5000`, `https://host/relevo/`)
 * gets `/upload` appended; one that already ends in `/upload` is kept. Only http and https.
 */
export function parseUploadUrl(value: string, where = "--url"): URL {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new UsageError(`${where} must be a URL like http://server:5000, got "${value}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`${where} must start with http:// or https://, got "${value}"`);
  }
  if (url.hash) throw new UsageError(`${where} must not have a #fragment, got "${value}"`);
  if (url.username || url.password) {
    throw new UsageError(`${where} must not carry a user or password; pass the token with --token`);
  }
  const path = url.pathname.replace(/\/+$/, "");
  url.pathname = path.endsWith("/upload") ? path : `${path}/upload`;
  return url;
}

/** POST /logs beside the upload endpoint: `http://host/relevo/upload` → `http://host/relevo/logs`. */
export function logsUrlOf(uploadUrl: URL): URL {
  const url = new URL(uploadUrl.href);
  url.pathname = url.pathname.replace(/\/upload$/, "/logs");
  return url;
}

function parseToken(raw: Raw, where: string): string {
  const token = String(raw).trim();
  // It goes into an HTTP header: printable ASCII only, no spaces.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError(`${where} must be one word of printable ASCII`);
  return token;
}

function parseNumber(source: Source, spec: Spec): number {
  const { raw, where } = source;
  const min = spec.min ?? 0;
  const max = spec.max ?? Number.MAX_SAFE_INTEGER;
  const n = spec.kind === "bytes" && typeof raw === "string" ? parseSize(raw) : Number(raw);
  const whole = spec.kind !== "seconds";
  if (
    typeof raw === "boolean" ||
    String(raw).trim() === "" ||
    !Number.isFinite(n) ||
    (whole && !Number.isInteger(n)) ||
    n < min ||
    n > max
  ) {
    const what = spec.kind === "seconds" ? "a number of seconds" : "a whole number";
    throw new UsageError(`${where} must be ${what} from ${min} to ${max}, got "${String(raw)}"`);
  }
  return n;
}

/** Bytes, with an optional binary suffix: `1048576`, `512K`, `100M`, `100MiB`, `2G`. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!match) return Number.NaN;
  const power = " KMGT".indexOf((match[2] || " ").toUpperCase());
  return Math.round(Number(match[1]) * 1024 ** power);
}

function parsePath(source: Source): string {
  const path = String(source.raw);
  if (!path.trim()) throw new UsageError(`${source.where} must not be empty`);
  return isAbsolute(path) ? path : resolve(source.base, path);
}

function parseBool(raw: Raw, where: string): boolean {
  if (typeof raw === "boolean") return raw;
  const text = String(raw).trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw new UsageError(`${where} must be true or false, got "${String(raw)}"`);
}

/**
 * Reads the JSON config file. The default file may be missing; one named by `--config` or RELEVO_CONFIG must
 * exist. Unknown keys are refused so a typo does not silently fall back to a default.
 */
export function readConfigFile(file: string, explicit: boolean): SettingsInput["config"] {
  if (!explicit && !existsSync(file)) return undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const why = errorCode(error) === "ENOENT" ? "no such file" : errorMessage(error);
    throw new UsageError(`cannot read the config file ${file}: ${why}`);
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the config file ${file} is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    throw new UsageError(`the config file ${file} must hold one JSON object`);
  }
  const known = Object.values(SETTINGS).map((spec) => spec.flag as string);
  const unknown = Object.keys(values).filter((key) => !known.includes(key));
  if (unknown.length) {
    throw new UsageError(
      `unknown key ${unknown.map((k) => `"${k}"`).join(", ")} in ${file}; known keys: ${known.join(", ")}`,
    );
  }
  return { file, values: values as Record<string, unknown> };
}
