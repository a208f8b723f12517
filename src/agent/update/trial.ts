// The trial of a new version run as a plain process (no service manager can swap it for us): the old
// agent has stopped its own loop and released the spool, starts the new executable in its place as its
// child, and waits until the new one confirms it delivered a report (it marks the trial in the state
// directory). If the child exits first, or TRIAL_MS pass, the child is stopped, the previous executable
// put back and the version refused; the old agent then carries on. Once confirmed, the old process only
// stays as the parent: it passes SIGTERM/SIGINT on and exits with the child's status.
import type { AgentLog } from "../_log.ts";
import { clearTrial, readTrial, refuseVersion, TRIAL_MS, writeTrial } from "./state.ts";
import { rollBack, type Swapped } from "./swap.ts";

export type TrialOutcome =
  | { kind: "confirmed"; exited: Promise<number> }
  | { kind: "rolled-back"; reason: string };

export interface TrialOptions {
  swapped: Swapped;
  version: string;
  from: string;
  argv: string[];
  stateDir: string;
  log: AgentLog;
  now: () => Date;
  trialMs?: number;
  /** The old agent's stop signal: passed on to the child. */
  signal: AbortSignal;
}

export async function runTrial(options: TrialOptions): Promise<TrialOutcome> {
  const { log, stateDir, version } = options;
  writeTrial(stateDir, {
    version,
    from: options.from,
    executable: options.swapped.executable,
    previous: options.swapped.previous,
    started_at: options.now().toISOString(),
    confirmed: false,
  });
  const child = Bun.spawn([options.swapped.executable, ...options.argv], {
    stdin: "ignore",
    stdout: "inherit",
    stderr: "inherit",
    env: { ...process.env, RELEVO_UPDATE_TRIAL: version },
  });
  log.info(`update: started ${version} (pid ${child.pid}); waiting for its first report`);
  const forward = () => child.kill("SIGTERM");
  options.signal.addEventListener("abort", forward, { once: true });
  const deadline = Date.now() + (options.trialMs ?? TRIAL_MS);
  let exited: number | null = null;
  void child.exited.then((code) => {
    exited = code;
  });
  let reason = "";
  for (;;) {
    if (readTrial(stateDir)?.confirmed) break;
    if (exited !== null) {
      reason = options.signal.aborted
        ? "stopped during its trial"
        : `it exited with ${exited} before its first report`;
      break;
    }
    if (Date.now() > deadline) {
      reason = `no report within ${Math.round((options.trialMs ?? TRIAL_MS) / 60_000)} minutes`;
      break;
    }
    await Bun.sleep(250);
  }
  if (!reason) {
    log.success(
      `update: ${version} delivered a report; it runs from now on (the previous executable is kept)`,
    );
    const exited = child.exited.then((code) => {
      options.signal.removeEventListener("abort", forward);
      return code;
    });
    return { kind: "confirmed", exited };
  }
  options.signal.removeEventListener("abort", forward);
  if (exited === null) {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await child.exited;
    clearTimeout(timer);
  }
  rollBack(options.swapped);
  clearTrial(stateDir);
  if (!options.signal.aborted) refuseVersion(stateDir, version, reason, options.now());
  log.error(
    `update: ${version} rolled back (${reason}); ${options.from} runs again and refuses ${version} from now on`,
  );
  return { kind: "rolled-back", reason };
}

/** In the new version: marks its trial confirmed once it delivered a report. */
export function confirmTrial(stateDir: string, version: string, log: AgentLog): boolean {
  const trial = readTrial(stateDir);
  if (!trial || trial.version !== version || trial.confirmed) return false;
  writeTrial(stateDir, { ...trial, confirmed: true });
  log.info(`update: ${version} confirmed by its first delivered report`);
  return true;
}
