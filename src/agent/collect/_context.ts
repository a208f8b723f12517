// What every collector receives: its data sources (passed in, so tests hand in recorded output) and the
// sampling state that turns cumulative CPU counters into load over an interval.
import type * as nodeOs from "node:os";
import type { PowerShellRunner } from "./_powershell.ts";

/** The parts of node:os the collectors use; tests pass recorded values. */
export type NodeOs = Pick<
  typeof nodeOs,
  | "hostname"
  | "arch"
  | "release"
  | "uptime"
  | "networkInterfaces"
  | "cpus"
  | "totalmem"
  | "freemem"
  | "loadavg"
>;

/** Cumulative CPU counters at one moment: the previous one turns the next into load over the interval. */
export interface CpuSample {
  /** Monotonic milliseconds (performance.now()) when the sample was taken. */
  at: number;
  /** CPU seconds used so far per process, keyed by `pid:start` so a reused pid never inherits a history. */
  processes?: Map<string, number>;
  /**
   * Monotonic milliseconds at which each process's counters were read (Linux): a scan of 1,600 processes
   * takes 50 ms and more, so each process's window is timed from its own readings, not the scan's start.
   */
  readAt?: Map<string, number>;
  /** When PowerShell read the process list (Windows): monotonic ms of the system-wide clock. */
  windowsAt?: number;
  /** Whole-machine busy and total jiffies (Linux /proc/stat). */
  machine?: { busy: number; total: number };
}

export interface Context {
  /** Filesystem root under which /proc, /etc, /sys and /run are read (Linux); "/" on a real host. */
  root: string;
  os: NodeOs;
  /** Runs one PowerShell command and resolves to what it printed (Windows). */
  powerShell: PowerShellRunner;
  now: () => Date;
  monotonic: () => number;
  commandLines: boolean;
  /** The sample of the previous collection (or of the one-shot baseline), if any. */
  previous: CpuSample | undefined;
  /** The sample this collection leaves for the next one; collectors fill their part. */
  next: CpuSample;
  /**
   * Notes a source this collector could not read (the field it fed stays empty or null): one line in the
   * report's `errors` under the collector's name, while the rest of its section is still sent.
   */
  partial: (message: string) => void;
}
