// The software part of `bun run bench agent` (run in a child process): the Linux software collector over a
// synthetic root holding a 3,000-package dpkg database (this host's own stanzas repeated under new names,
// each with its info/<name>.list file), child processes counted by wrapping every way to start one, and the
// size of a report with and without its items.
import childProcess from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Context } from "../../src/agent/collect/_context.ts";
import { softwareLinux } from "../../src/agent/collect/software.ts";
import { median } from "./_stats.ts";

export interface SoftwareBench {
  packages: number;
  runs: number;
  firstMs: number;
  /** The status file changed before every run: parsed and stat'ed again each time (wall and CPU ms). */
  changedMs: number;
  changedCpuMs: number;
  medianMs: number;
  /** CPU time of this process per collection (user + system): what contention on a shared machine does not inflate. */
  medianCpuMs: number;
  hostPackages: number;
  hostMs: number;
  spawned: number;
  withItems: { json: number; gzip: number };
  hashOnly: { json: number; gzip: number };
}

const PACKAGES = 3_000;
const RUNS = 21;

/** A root with /var/lib/dpkg/status of `count` installed packages and their file lists. */
function syntheticRoot(count: number): string {
  const root = mkdtempSync(join(tmpdir(), "relevo-bench-dpkg-"));
  const info = join(root, "var", "lib", "dpkg", "info");
  mkdirSync(info, { recursive: true });
  const real = readFileSync("/var/lib/dpkg/status", "utf8")
    .split(/\n\n+/)
    .filter((stanza) => / installed$/m.test(stanza));
  if (!real.length) throw new Error("/var/lib/dpkg/status lists no installed package to copy");
  const stanzas: string[] = [];
  for (let i = 0; i < count; i++) {
    const stanza = (real[i % real.length] as string).replace(/^Package: (.+)$/m, `Package: $1-copy${i}`);
    const name = /^Package: (.+)$/m.exec(stanza)?.[1] as string;
    stanzas.push(stanza);
    writeFileSync(join(info, `${name}.list`), "/.\n/usr\n");
  }
  writeFileSync(join(root, "var", "lib", "dpkg", "status"), `${stanzas.join("\n\n")}\n`);
  return root;
}

const ctxOn = (root: string) => ({ root, partial: () => {} }) as unknown as Context;

export async function softwareBench(): Promise<SoftwareBench> {
  let spawned = 0;
  const count =
    <T extends (...args: never[]) => unknown>(fn: T) =>
    (...args: Parameters<T>) => {
      spawned++;
      return fn(...args);
    };
  Bun.spawn = count(Bun.spawn) as typeof Bun.spawn;
  Bun.spawnSync = count(Bun.spawnSync) as typeof Bun.spawnSync;
  for (const name of [
    "spawn",
    "spawnSync",
    "exec",
    "execSync",
    "execFile",
    "execFileSync",
    "fork",
  ] as const) {
    (childProcess as Record<string, unknown>)[name] = count(
      childProcess[name] as (...args: never[]) => unknown,
    );
  }

  const root = syntheticRoot(PACKAGES);
  try {
    let t = performance.now();
    let section = await softwareLinux(ctxOn(root));
    const firstMs = performance.now() - t;
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const before = process.cpuUsage();
      t = performance.now();
      section = await softwareLinux(ctxOn(root));
      times.push(performance.now() - t);
      const used = process.cpuUsage(before);
      cpu.push((used.user + used.system) / 1000);
    }
    const changed: number[] = [];
    const changedCpu: number[] = [];
    const status = join(root, "var", "lib", "dpkg", "status");
    const text = readFileSync(status, "utf8");
    for (let i = 0; i < RUNS; i++) {
      // A new file (dpkg renames its new status over the old one): the agent must read it again.
      writeFileSync(`${status}.new`, text);
      renameSync(`${status}.new`, status);
      const before = process.cpuUsage();
      t = performance.now();
      section = await softwareLinux(ctxOn(root));
      changed.push(performance.now() - t);
      const used = process.cpuUsage(before);
      changedCpu.push((used.user + used.system) / 1000);
    }
    if (section.items?.length !== PACKAGES)
      throw new Error(`listed ${section.items?.length} of ${PACKAGES} packages`);
    const hostTimes: number[] = [];
    let host = await softwareLinux(ctxOn("/"));
    for (let i = 0; i < RUNS; i++) {
      t = performance.now();
      host = await softwareLinux(ctxOn("/"));
      hostTimes.push(performance.now() - t);
    }
    const report = JSON.parse(
      readFileSync(join(import.meta.dir, "..", "..", "test", "fixtures", "report.json"), "utf8"),
    );
    const size = (value: unknown) => {
      const json = new TextEncoder().encode(JSON.stringify(value));
      return { json: json.byteLength, gzip: Bun.gzipSync(json).byteLength };
    };
    return {
      packages: PACKAGES,
      runs: RUNS,
      firstMs,
      medianMs: median(times),
      medianCpuMs: median(cpu),
      changedMs: median(changed),
      changedCpuMs: median(changedCpu),
      hostPackages: host.items?.length ?? 0,
      hostMs: median(hostTimes),
      spawned,
      withItems: size({ ...report, software: section }),
      hashOnly: size({ ...report, software: { hash: section.hash } }),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
