#!/usr/bin/env bun
// Compiles relevo-agent and relevo-server into standalone executables:
//   bun run build                                   all six into dist/, with dist/SHA256SUMS
//   bun run build -- --target linux-x64 --app agent  only some (both flags repeatable or comma-separated)
//   bun run build -- --outdir DIR --no-bytecode --no-sums --force
//   bun run build -- --version 1.2.0 --update-key release.pub   the version, and the keys updates are checked with
// Every executable ignores .env and bunfig.toml where it runs (autoload off), is minified and carries
// bytecode. A build whose inputs did not change since the last one is reused: each executable has a
// stamp (<outdir>/meta/<name>.json) with a hash of every bundled input and of the build settings, and the
// metafile inputs, which the tests read to prove what each executable contains.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { keyLine, parsePublicKey } from "../src/shared/release/minisign.ts";
import { parseSemver } from "../src/shared/semver.ts";

export const REPO = resolve(import.meta.dir, "..");

export const TARGETS = {
  "linux-x64": { bun: "bun-linux-x64-baseline", os: "linux", arch: "x64" },
  "linux-arm64": { bun: "bun-linux-arm64", os: "linux", arch: "arm64" },
  "windows-x64": { bun: "bun-windows-x64-baseline", os: "windows", arch: "x64" },
} as const satisfies Record<string, { bun: Bun.Build.CompileTarget; os: string; arch: string }>;
export type TargetName = keyof typeof TARGETS;

export const APPS = {
  agent: "src/agent/cli.ts",
  server: "src/server/cli.ts",
} as const;
export type AppName = keyof typeof APPS;

export interface BuildOptions {
  targets?: TargetName[];
  apps?: AppName[];
  outdir?: string;
  bytecode?: boolean;
  /** Write <outdir>/SHA256SUMS for the executables of this run. */
  sums?: boolean;
  /** Rebuild even when the stamp says the executable is fresh. */
  force?: boolean;
  /** The version the executables report (default: package.json's). */
  version?: string;
  /** minisign public keys (their base64 lines) the agent trusts for self-update, besides --update-key. */
  updateKeys?: string[];
  /** Progress lines (stderr); silent by default so tests stay quiet. */
  log?: (line: string) => void;
}

export interface Built {
  app: AppName;
  target: TargetName;
  name: string;
  path: string;
  bytes: number;
  reused: boolean;
  ms: number;
  /** Bundled source files, relative to the repository (from the metafile). */
  inputs: string[];
}

interface Stamp {
  key: string;
  inputs: string[];
}

export function executableName(app: AppName, target: TargetName): string {
  const t = TARGETS[target];
  return `relevo-${app}-${t.os}-${t.arch}${t.os === "windows" ? ".exe" : ""}`;
}

/** What is injected at build time (`--define`): part of every stamp. */
interface Injected {
  version: string | undefined;
  updateKeys: string[];
}

function defines(injected: Injected): string[] {
  return [
    ...(injected.version ? ["--define", `RELEVO_BUILD_VERSION=${JSON.stringify(injected.version)}`] : []),
    ...(injected.updateKeys.length
      ? ["--define", `RELEVO_UPDATE_KEYS=${JSON.stringify(injected.updateKeys.join(","))}`]
      : []),
  ];
}

function stampKey(
  app: AppName,
  target: TargetName,
  bytecode: boolean,
  inputs: string[],
  injected: Injected,
): string | null {
  const hash = createHash("sha256");
  hash.update(
    JSON.stringify({
      app,
      target,
      bytecode,
      bun: Bun.version,
      build: hashFile(import.meta.path),
      // Only when set, so a plain build keeps the stamps it had.
      ...(injected.version || injected.updateKeys.length ? { injected } : {}),
    }),
  );
  for (const input of [...inputs].sort()) {
    const file = join(REPO, input);
    if (!existsSync(file)) return null;
    hash.update(`\0${input}\0`);
    hash.update(readFileSync(file));
  }
  return hash.digest("hex");
}

function hashFile(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

function readStamp(file: string): Stamp | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Stamp;
  } catch {
    return null;
  }
}

async function buildOne(
  app: AppName,
  target: TargetName,
  outdir: string,
  bytecode: boolean,
  force: boolean,
  injected: Injected,
): Promise<Built> {
  const started = performance.now();
  const name = executableName(app, target);
  const path = join(outdir, name);
  const stampFile = join(outdir, "meta", `${name}.json`);
  const previous = readStamp(stampFile);
  let inputs: string[] = [];
  // The previous build's inputs stand for this one's: a new import changes an old input (the importer).
  if (
    !force &&
    previous &&
    existsSync(path) &&
    stampKey(app, target, bytecode, previous.inputs, injected) === previous.key
  ) {
    return {
      app,
      target,
      name,
      path,
      bytes: statSync(path).size,
      reused: true,
      ms: 0,
      inputs: previous.inputs,
    };
  }
  // Built in a folder of its own under its final name, then renamed over: a concurrent run never sees half
  // an executable. Through the CLI, not Bun.build(): a Windows executable compiled by Bun.build() (Bun
  // 1.4.5) embeds its entry without ".exe" and then sees import.meta.main false, so it would do nothing.
  const work = join(outdir, `.partial-${process.pid}-${name}`);
  mkdirSync(work, { recursive: true });
  const metafile = join(work, "meta.json");
  try {
    const argv = [
      process.execPath,
      "build",
      APPS[app],
      "--compile",
      `--target=${TARGETS[target].bun}`,
      "--format=esm",
      "--minify",
      ...(bytecode ? ["--bytecode"] : []),
      "--no-compile-autoload-dotenv",
      "--no-compile-autoload-bunfig",
      "--no-compile-autoload-tsconfig",
      "--no-compile-autoload-package-json",
      ...defines(injected),
      `--metafile=${metafile}`,
      "--outfile",
      join(work, name),
    ];
    const proc = Bun.spawn(argv, { cwd: REPO, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (code !== 0) throw new Error(`Failed to build ${name} (bun build exit ${code}):\n${stderr}${stdout}`);
    renameSync(join(work, name), path);
    const meta = JSON.parse(readFileSync(metafile, "utf8")) as { inputs: Record<string, unknown> };
    inputs = Object.keys(meta.inputs)
      .map((input) => input.replace(/^\.\//, ""))
      .sort();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const key = stampKey(app, target, bytecode, inputs, injected);
  mkdirSync(join(outdir, "meta"), { recursive: true });
  if (key) writeFileSync(stampFile, `${JSON.stringify({ key, inputs } satisfies Stamp, null, 1)}\n`);
  const ms = Math.round(performance.now() - started);
  return { app, target, name, path, bytes: statSync(path).size, reused: false, ms, inputs };
}

/** `sha256sum` format: "<hex>  <name>" per line, so `sha256sum -c SHA256SUMS` checks them. */
export function sha256sums(files: string[]): string {
  return files.map((file) => `${hashFile(file)}  ${basename(file)}\n`).join("");
}

export async function build(options: BuildOptions = {}): Promise<Built[]> {
  const outdir = resolve(options.outdir ?? join(REPO, "dist"));
  const targets = options.targets ?? (Object.keys(TARGETS) as TargetName[]);
  const apps = options.apps ?? (Object.keys(APPS) as AppName[]);
  const bytecode = options.bytecode ?? true;
  const injected: Injected = { version: options.version, updateKeys: options.updateKeys ?? [] };
  mkdirSync(outdir, { recursive: true });
  const built: Built[] = [];
  // One at a time: compiling is CPU-bound, and in parallel the builds only wait for each other.
  for (const target of targets) {
    for (const app of apps) {
      const one = await buildOne(app, target, outdir, bytecode, options.force ?? false, injected);
      options.log?.(
        `${one.reused ? "fresh" : "built"}  ${one.name}  ${(one.bytes / 2 ** 20).toFixed(1)} MiB` +
          (one.reused ? "" : `  ${(one.ms / 1000).toFixed(1)} s`),
      );
      built.push(one);
    }
  }
  if (options.sums ?? true) {
    writeFileSync(join(outdir, "SHA256SUMS"), sha256sums(built.map((one) => one.path)));
    options.log?.(`wrote   ${join(outdir, "SHA256SUMS")}`);
  }
  return built;
}

function listFlag<T extends string>(values: string[] | undefined, allowed: readonly T[], flag: string) {
  if (!values) return undefined;
  const list = values.flatMap((value) => value.split(",")).filter(Boolean);
  for (const value of list) {
    if (!allowed.includes(value as T)) {
      throw new Error(`--${flag} must be one of ${allowed.join(", ")}, got "${value}"`);
    }
  }
  return list as T[];
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string", multiple: true },
      app: { type: "string", multiple: true },
      outdir: { type: "string" },
      "no-bytecode": { type: "boolean" },
      "no-sums": { type: "boolean" },
      force: { type: "boolean" },
      version: { type: "string" },
      "update-key": { type: "string", multiple: true },
    },
  });
  if (values.version !== undefined && !parseSemver(values.version)) {
    throw new Error(`--version must be a semantic version such as 1.2.0, got "${values.version}"`);
  }
  const updateKeys = (values["update-key"] ?? []).map((file) => parsePublicKey(readFileSync(file, "utf8")));
  const started = performance.now();
  const built = await build({
    targets: listFlag(values.target, Object.keys(TARGETS) as TargetName[], "target"),
    apps: listFlag(values.app, Object.keys(APPS) as AppName[], "app"),
    outdir: values.outdir,
    bytecode: !values["no-bytecode"],
    sums: !values["no-sums"],
    force: values.force ?? false,
    version: values.version,
    updateKeys: updateKeys.map(keyLine),
    log: (line) => console.error(line),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.error(`${built.length} executables in ${seconds} s`);
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    console.error(`build: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
