// What the updater keeps in <state>/update/: versions refused for good (a bad signature is not retried,
// a version that failed its trial is never offered again), the trial of a just-installed version, and
// the files being downloaded or staged.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as v from "valibot";

export const UPDATE_DIR = "update";
/** A new version that has not delivered a report within this long is put back and refused. */
export const TRIAL_MS = 10 * 60_000;

const RefusedSchema = v.record(v.string(), v.object({ at: v.string(), reason: v.string() }));

const TrialSchema = v.object({
  version: v.string(),
  from: v.string(),
  executable: v.string(),
  previous: v.string(),
  started_at: v.string(),
  confirmed: v.boolean(),
});
export type Trial = v.InferOutput<typeof TrialSchema>;

export function updateDir(stateDir: string): string {
  return join(stateDir, UPDATE_DIR);
}

/** The update directory, made when something is to be written there (reads never create it). */
export function ensureUpdateDir(stateDir: string): string {
  const dir = updateDir(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function readJson<T>(path: string, schema: v.GenericSchema<unknown, T>): T | null {
  if (!existsSync(path)) return null;
  try {
    const parsed = v.safeParse(schema, JSON.parse(readFileSync(path, "utf8")));
    return parsed.success ? parsed.output : null;
  } catch {
    return null;
  }
}

/** Written beside, then renamed: a reader sees the old file or the new one. */
function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(value, null, 1)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function refusedVersions(stateDir: string): Record<string, { at: string; reason: string }> {
  return readJson(join(updateDir(stateDir), "refused.json"), RefusedSchema) ?? {};
}

export function refuseVersion(stateDir: string, version: string, reason: string, now: Date): void {
  const all = refusedVersions(stateDir);
  all[version] = { at: now.toISOString(), reason: reason.slice(0, 500) };
  writeJson(join(updateDir(stateDir), "refused.json"), all);
}

const trialPath = (stateDir: string) => join(updateDir(stateDir), "trial.json");

export function readTrial(stateDir: string): Trial | null {
  return readJson(trialPath(stateDir), TrialSchema);
}

export function writeTrial(stateDir: string, trial: Trial): void {
  writeJson(trialPath(stateDir), trial);
}

export function clearTrial(stateDir: string): void {
  rmSync(trialPath(stateDir), { force: true });
}
