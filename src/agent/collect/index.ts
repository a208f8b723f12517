// The report: every area collected at once, each under its own timeout. A collector that throws or times
// out leaves an empty section and a line in `errors`; the rest of the report still goes out.
//
// A long-running agent keeps one Collector: it holds the previous CPU sample (so cpu_percent and
// load_percent are load over the interval between reports) and, on Windows, the persistent PowerShell
// session. A one-shot collection takes a baseline sample first and reads the counters again after
// `sampleMs`, while the other collectors run.
import * as nodeOs from "node:os";
import type { Report } from "../../shared/report.ts";
import { LIMITS, SCHEMA_VERSION } from "../../shared/report.ts";
import { VERSION } from "../../shared/version.ts";
import type { Context, CpuSample, NodeOs } from "./_context.ts";
import { clip } from "./_limits.ts";
import { PartialSectionError } from "./_partial.ts";
import { noPowerShell, type PowerShellRunner } from "./_powershell.ts";
import { openPowerShellSession, type PowerShellSession } from "./_ps-session.ts";
import { withTimeout } from "./_timeout.ts";
import { type Area, collectorsFor, type Sections, sampleFor } from "./platform.ts";

export type { CpuSample } from "./_context.ts";
export { AREAS, type Area } from "./platform.ts";

export interface CollectOptions {
  /** The PowerShell to keep open for the Windows collectors (`powershell.exe ... -Command -`); none: no session. */
  powerShellArgv?: string[];
  /** Its environment, and a script each new session runs first (tests: stand-ins for Windows-only cmdlets). */
  powerShellEnv?: Record<string, string | undefined>;
  powerShellPrelude?: string;
  now?: () => Date;
  /** Monotonic milliseconds; performance.now() by default. */
  monotonic?: () => number;
  platform?: NodeJS.Platform;
  /** false leaves every command line empty (they can hold secrets). */
  commandLines?: boolean;
  /** Per collector, and per PowerShell command. */
  timeoutMs?: number;
  /** The one-shot sampling window when there is no previous sample. */
  sampleMs?: number;
  /** A sample from an earlier collection to measure CPU against. */
  previous?: CpuSample;
  /** Root of the filesystem for /proc, /etc, /sys, /run (Linux). */
  root?: string;
  os?: NodeOs;
  /** Runs PowerShell commands instead of a PowerShell session (tests hand in recorded output). */
  powerShell?: PowerShellRunner;
  /** Replaces some collectors (tests: one that throws, one that hangs). */
  override?: Partial<{ [A in Area]: (ctx: Context) => Promise<Sections[A]> }>;
  agentId?: string | null;
  /** Called when a PowerShell command timed out or failed and the session was restarted. */
  onPowerShellRestart?: (reason: string) => void;
}

interface Collector {
  collect(): Promise<Report>;
  /** Ends the PowerShell session (Windows) and waits for it to exit; the Collector can still collect afterwards. */
  close(): Promise<void>;
  /** The sample the next collection measures against. */
  readonly sample: CpuSample | undefined;
}

const EMPTY: Sections = {
  host: { hostname: "", fqdn: "", ips: [] },
  os: { platform: "", name: "", version: "", build: "", kernel: "", arch: "", uptime_s: 0 },
  cpu: {
    manufacturer: "",
    model: "",
    speed_ghz: 0,
    cores: 0,
    physical_cores: 0,
    load_percent: 0,
    load_avg: [],
  },
  memory: { total_bytes: 0, available_bytes: 0, swap_total_bytes: 0, swap_used_bytes: 0 },
  users: [],
  processes: { total: 0, list: [] },
  disks: [],
  network: [],
  system: { manufacturer: "", model: "", serial: "", uuid: "" },
  network_config: { gateways: [], dns_servers: [], dns_search: [] },
  block_devices: [],
  accounts: { users: [], groups: [] },
  // A list that could not be read is left out, never sent empty: the server would take it for removals.
  software: undefined,
  services: undefined,
  domain: undefined,
};

const DEFAULTS = { timeoutMs: 10_000, sampleMs: 300 } as const;

export function createCollector(options: CollectOptions = {}): Collector {
  const platform = options.platform ?? process.platform;
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  const sampleMs = options.sampleMs ?? DEFAULTS.sampleMs;
  const monotonic = options.monotonic ?? (() => performance.now());
  const now = options.now ?? (() => new Date());
  // The process starts with the first command and lives until close().
  let session: PowerShellSession | undefined;
  const argv = options.powerShellArgv;
  const powerShell: PowerShellRunner =
    options.powerShell ??
    (platform === "win32" && argv
      ? (command) => {
          session ??= openPowerShellSession({
            argv,
            env: options.powerShellEnv,
            prelude: options.powerShellPrelude,
            timeoutMs,
            onRestart: options.onPowerShellRestart,
          });
          return session.run(command);
        }
      : noPowerShell);
  const collectors = { ...collectorsFor(platform), ...options.override };
  let previous = options.previous;

  return {
    get sample() {
      return previous;
    },
    async close() {
      const open = session;
      session = undefined;
      await open?.close();
    },
    async collect() {
      const base = {
        root: options.root ?? "/",
        os: options.os ?? nodeOs,
        powerShell,
        now,
        monotonic,
        commandLines: options.commandLines ?? true,
      };
      // No earlier sample: take one now and let the sampled collectors wait out the window.
      let ready: Promise<void> = Promise.resolve();
      if (!previous) {
        const at = monotonic();
        const baseline: CpuSample = { at };
        try {
          await withTimeout("CPU baseline", timeoutMs, () =>
            // What the baseline cannot read, the sampled collectors find again and report.
            sampleFor(platform)({ ...base, previous: undefined, next: baseline, partial: () => {} }),
          );
          previous = baseline;
          ready = Bun.sleep(Math.max(0, at + sampleMs - monotonic()));
        } catch {
          // Without a baseline the sampled values are 0; the collectors below still report.
        }
      }
      // `at` moves only when the processes are sampled, so a failed process collector keeps the old pair.
      const errors: Report["errors"] = [];
      const note = (collector: string, message: string) =>
        errors.push({ collector, message: clip(message, LIMITS.text) });
      const ctx: Context = {
        ...base,
        previous,
        next: { at: previous?.at ?? monotonic() },
        partial: () => {},
      };
      const run = async <A extends Area>(area: A): Promise<Sections[A]> => {
        try {
          if (SAMPLED.has(area)) await ready;
          const collect = collectors[area] as (ctx: Context) => Promise<Sections[A]>;
          const own: Context = { ...ctx, partial: (message) => note(area, message) };
          return await withTimeout(`collector ${area}`, timeoutMs, () => collect(own));
        } catch (error) {
          note(area, error instanceof Error ? error.message : String(error));
          // What could be read without the failed source is still sent.
          if (error instanceof PartialSectionError) return error.section as Sections[A];
          return structuredClone(EMPTY[area]);
        }
      };
      const [host, os, cpu, memory, users, processes, disks, network, system] = await Promise.all([
        run("host"),
        run("os"),
        run("cpu"),
        run("memory"),
        run("users"),
        run("processes"),
        run("disks"),
        run("network"),
        run("system"),
      ]);
      const [network_config, block_devices, accounts, software, services, domain] = await Promise.all([
        run("network_config"),
        run("block_devices"),
        run("accounts"),
        run("software"),
        run("services"),
        run("domain"),
      ]);
      // A failed sampled collector leaves its part of the old sample in place, so the next report still
      // measures against something.
      previous = { ...previous, ...ctx.next };
      if (!os.platform) os.platform = platform;
      return {
        schema_version: SCHEMA_VERSION,
        report_id: Bun.randomUUIDv7(),
        collected_at: now().toISOString(),
        agent: { version: VERSION, id: options.agentId ?? null },
        host,
        os,
        cpu,
        memory,
        users,
        processes,
        disks,
        network,
        system,
        ...(network_config && { network_config }),
        ...(block_devices && { block_devices }),
        ...(accounts && { accounts }),
        ...(software && { software }),
        ...(services && { services }),
        ...(domain && { domain }),
        errors: errors.slice(0, LIMITS.errors),
      };
    },
  };
}

/** Collectors whose values are load over an interval: they read their counters after the sampling window. */
const SAMPLED = new Set<Area>(["cpu", "processes"]);

/** One report, sampling CPU over `sampleMs` unless `previous` is given. */
export async function collectReport(options: CollectOptions = {}): Promise<Report> {
  const collector = createCollector(options);
  try {
    return await collector.collect();
  } finally {
    await collector.close();
  }
}
