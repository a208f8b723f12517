// How a verified version gets in place. Under the systemd unit the agent cannot write
// /usr/local/bin (DynamicUser, ProtectSystem=strict): it stages the file and the signed sums in its state
// directory and touches update/ready, which a .path unit turns into the root oneshot `apply-update`.
// Anywhere else (a plain process, the Windows SYSTEM task) it swaps the executable itself and runs the
// new one as a trial (trial.ts). From source (`bun src/agent/cli.ts`) there is no executable of ours to
// replace, so nothing is installed.
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Candidate } from "./fetch.ts";
import { ensureUpdateDir, updateDir } from "./state.ts";

export type InstallMode = "stage" | "swap" | "none";

export function installMode(executable: string, env: Record<string, string | undefined>): InstallMode {
  if (env.RELEVO_UPDATE_VIA === "path-unit") return "stage";
  return basename(executable).startsWith("relevo-agent") ? "swap" : "none";
}

export const STAGED_DIR = "staged";
export const READY_FILE = "ready";

/** Stages the candidate for the root unit: the executable, then its signed sums, then the ready flag. */
export function stage(stateDir: string, candidate: Candidate): string {
  const dir = join(ensureUpdateDir(stateDir), STAGED_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  copyFileSync(candidate.path, join(dir, candidate.file));
  writeFileSync(
    join(dir, "release.json"),
    `${JSON.stringify({ version: candidate.version, file: candidate.file, sums: candidate.sums, signature: candidate.signature })}\n`,
  );
  const ready = join(updateDir(stateDir), READY_FILE);
  writeFileSync(`${ready}.tmp`, `${candidate.version}\n`);
  renameSync(`${ready}.tmp`, ready);
  return ready;
}
