// Carries out a plan, step by step, stopping at the first step that fails (with what it was doing).
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { errorCode, errorMessage } from "../errors.ts";
import type { Plan, Step } from "./plan.ts";

interface ExecuteOptions {
  /** One line per step done. */
  log: (line: string) => void;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** Writes beside and renames over, so a reader (or a running executable) never sees half a file. */
function writeAtomic(
  path: string,
  data: Uint8Array | string,
  mode: number | undefined,
  windows: boolean,
): void {
  if (windows) {
    writeFileSync(path, data);
    return;
  }
  const partial = `${path}.relevo-${process.pid}`;
  writeFileSync(partial, data, { mode: mode ?? 0o644 });
  chmodSync(partial, mode ?? 0o644);
  renameSync(partial, path);
}

function encode(step: Extract<Step, { kind: "write" }>): Uint8Array | string {
  if (step.encoding !== "utf16le") return step.content;
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(step.content, "utf16le")]);
}

/** Windows keeps a running executable's file open: delete it from a process that outlives this one. */
function removeWhenFree(path: string): void {
  const quoted = `"${path}"`;
  Bun.spawn(
    ["cmd.exe", "/d", "/c", `ping -n 3 127.0.0.1 >nul & del /f /q ${quoted} & rmdir "${dirname(path)}"`],
    {
      stdio: ["ignore", "ignore", "ignore"],
      detached: true,
    },
  ).unref();
}

function runStep(step: Step, windows: boolean, log: (line: string) => void): void {
  switch (step.kind) {
    case "mkdir":
      mkdirSync(step.path, { recursive: true, mode: step.mode });
      if (step.mode !== undefined && !windows) chmodSync(step.path, step.mode);
      log(`created ${step.path}`);
      return;
    case "copy":
      if (sameFile(step.from, step.to)) {
        log(`${step.to} is the running executable: kept in place`);
        return;
      }
      if (windows) {
        copyFileSync(step.from, step.to);
      } else {
        const partial = `${step.to}.relevo-${process.pid}`;
        copyFileSync(step.from, partial);
        chmodSync(partial, step.mode ?? 0o755);
        renameSync(partial, step.to);
      }
      log(`copied ${step.from} to ${step.to}`);
      return;
    case "write":
      writeAtomic(step.path, encode(step), step.mode, windows);
      log(`wrote ${step.path}`);
      return;
    case "run": {
      const result = Bun.spawnSync(step.argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const output = `${result.stderr.toString()}${result.stdout.toString()}`.trim();
      if (result.exitCode !== 0 && !step.mayFail) {
        throw new Error(
          `\`${step.argv.join(" ")}\` failed (exit ${result.exitCode})${output ? `: ${output}` : ""}`,
        );
      }
      log(`ran ${step.argv.join(" ")}${result.exitCode === 0 ? "" : ` (exit ${result.exitCode}, ignored)`}`);
      return;
    }
    case "remove":
      if (!existsSync(step.path)) return;
      if (step.ifEmpty) {
        try {
          rmdirSync(step.path);
          log(`removed ${step.path}`);
        } catch (error) {
          if (!["ENOTEMPTY", "EEXIST", "ENOENT", "ENOTDIR"].includes(errorCode(error) ?? "")) throw error;
        }
        return;
      }
      // Windows keeps an executable locked for a moment after its process was ended: retry for 3 s.
      for (let attempt = 1; ; attempt++) {
        try {
          rmSync(step.path, { recursive: step.recursive ?? false, force: true });
          log(`removed ${step.path}`);
          return;
        } catch (error) {
          const code = errorCode(error);
          if (!windows || (code !== "EBUSY" && code !== "EPERM" && code !== "EACCES")) throw error;
          if (attempt < 10) {
            Bun.sleepSync(300);
            continue;
          }
          removeWhenFree(step.path);
          log(`${step.path} is in use: it is removed a few seconds after this exits`);
          return;
        }
      }
  }
}

export function executePlan(plan: Plan, options: ExecuteOptions): void {
  const windows = plan.platform === "windows";
  plan.steps.forEach((step, i) => {
    try {
      runStep(step, windows, options.log);
    } catch (error) {
      throw new Error(
        `${plan.service} ${plan.action} stopped at step ${i + 1} of ${plan.steps.length} (${step.why}): ${errorMessage(error)}`,
      );
    }
  });
}
