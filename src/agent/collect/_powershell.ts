// One persistent PowerShell session, systeminformation's own (so its functions and ours share one process),
// with a timeout on every command. systeminformation's session never times out: a command that hangs holds
// every later one, and a session that died answers "" forever. On a timeout we release the session (it gets
// `exit` on stdin) and start a fresh one for the next command, so one stuck query costs one report section.
import { TimeoutError, withTimeout } from "./_timeout.ts";

/** Runs one PowerShell command; resolves to what it printed on stdout. */
export type PowerShellRunner = (command: string) => Promise<string>;

/** The systeminformation functions a PowerShell session needs (its module, or a fake in tests). */
export interface PowerShellHost {
  powerShell(command: string): Promise<string>;
  powerShellStart(): void;
  powerShellRelease(): void;
}

/**
 * systeminformation's session functions. Its index exports powerShellStart and powerShellRelease but not
 * powerShell itself, which lives in lib/util.js (the same module instance index.js uses, so the session is
 * shared). A fake in tests has all three.
 */
export async function powerShellHost(
  si: Partial<PowerShellHost> | undefined,
): Promise<PowerShellHost | undefined> {
  if (!si?.powerShellStart || !si.powerShellRelease) return undefined;
  let run = si.powerShell;
  if (!run) {
    // @ts-expect-error systeminformation ships no types for lib/util.js
    const util = (await import("systeminformation/lib/util.js")) as Partial<PowerShellHost>;
    run = util.powerShell;
  }
  if (!run) return undefined;
  return { powerShell: run, powerShellStart: si.powerShellStart, powerShellRelease: si.powerShellRelease };
}

export interface PowerShellSession {
  run: PowerShellRunner;
  close(): void;
}

export function createPowerShellSession(
  host: PowerShellHost,
  options: { timeoutMs: number; persistent: boolean; onRestart?: (reason: string) => void },
): PowerShellSession {
  let started = false;
  const start = () => {
    if (options.persistent && !started) {
      host.powerShellStart();
      started = true;
    }
  };
  const release = () => {
    if (started) {
      started = false;
      try {
        host.powerShellRelease();
      } catch {
        // Releasing a session that already died is not an error worth reporting.
      }
    }
  };
  return {
    async run(command) {
      start();
      try {
        const out = await withTimeout("PowerShell command", options.timeoutMs, () =>
          host.powerShell(command),
        );
        // systeminformation resolves "" instead of rejecting when PowerShell failed; our commands always print.
        if (!out.trim())
          throw new Error("PowerShell printed nothing (the command failed or the session died)");
        return out;
      } catch (error) {
        if (error instanceof TimeoutError || options.persistent) {
          release();
          options.onRestart?.(error instanceof Error ? error.message : String(error));
        }
        throw error;
      }
    },
    close: release,
  };
}

/** A runner for platforms without PowerShell: every Windows collector fails clearly if ever called. */
export const noPowerShell: PowerShellRunner = () =>
  Promise.reject(new Error("PowerShell is not available here"));

/**
 * Parses the JSON that `ConvertTo-Json -Compress` printed. Windows PowerShell 5.1 may prefix a BOM and
 * surround it with blank lines; a lone object where a list was expected is wrapped.
 */
export function parsePowerShellJson(text: string): unknown {
  const body = text.replace(/^\uFEFF/, "").trim();
  if (!body) throw new Error("PowerShell printed nothing");
  try {
    return JSON.parse(body);
  } catch {
    throw new Error(`PowerShell printed something that is not JSON: ${body.slice(0, 120)}`);
  }
}

export function asList(value: unknown): Record<string, unknown>[] {
  const list = Array.isArray(value) ? value : value == null ? [] : [value];
  return list.filter((item): item is Record<string, unknown> => typeof item === "object" && item !== null);
}

export function asRecord(value: unknown): Record<string, unknown> {
  const [first] = asList(value);
  if (!first) throw new Error("PowerShell printed no object");
  return first;
}

export const str = (value: unknown): string =>
  typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";

export const num = (value: unknown): number => {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : 0;
};
