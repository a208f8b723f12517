// The agent's own persistent PowerShell process (`powershell -Command -`), one command at a time, each framed
// (see _ps-frame.ts) and under a timeout. A command that hangs kills the process; a process that exits
// (crashed, killed, never started) fails the command in flight at once with its exit code and last
// stderr, instead of leaving it to time out. Either way the next command starts a fresh process.
import { frameCommand, parseReplyLine } from "./_ps-frame.ts";
import { TimeoutError } from "./_timeout.ts";

interface PowerShellSessionOptions {
  /** The PowerShell to start, with its flags, ending in `-Command -`. */
  argv: string[];
  env?: Record<string, string | undefined>;
  timeoutMs: number;
  /** A script run first in every new process (tests define stand-ins for Windows-only cmdlets there). */
  prelude?: string;
  /** Called when the process was killed or found dead; the next command starts a new one. */
  onRestart?: (reason: string) => void;
}

export interface PowerShellSession {
  run(script: string): Promise<string>;
  /** Ends the process (end of stdin, killed after 2 s) and resolves once it has exited and been reaped. */
  close(): Promise<void>;
}

interface Job {
  script: string;
  resolve(out: string): void;
  reject(error: Error): void;
}

interface Live {
  proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  stderr: string;
  dead: boolean;
  /** Ended by close(): its exit is no restart. */
  closing: boolean;
  /** Hands each line of stdout to the command in flight. */
  lines: (line: string) => void;
  /** Tells the command in flight that the process exited. */
  exited: (code: number | null) => void;
}

/** The PowerShell flags the agent uses: no profile, no prompts, commands read from stdin. */
export function powerShellArgv(executable: string): string[] {
  return [
    executable,
    "-NoProfile",
    "-NoLogo",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    "-",
  ];
}

export function openPowerShellSession(options: PowerShellSessionOptions): PowerShellSession {
  const queue: Job[] = [];
  let live: Live | undefined;
  let busy = false;
  let counter = 0;
  const nonce = crypto.randomUUID().replaceAll("-", "").slice(0, 16);

  const start = (): Live => {
    const proc = Bun.spawn(options.argv, {
      env: options.env,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      windowsHide: true,
    });
    const state: Live = { proc, stderr: "", dead: false, closing: false, lines: () => {}, exited: () => {} };
    void proc.exited.then((code) => {
      state.dead = true;
      if (live === state) live = undefined;
      state.exited(code);
    });
    const decoder = new TextDecoder();
    void (async () => {
      let pending = "";
      for await (const chunk of proc.stdout) {
        pending += decoder.decode(chunk, { stream: true });
        let newline = pending.indexOf("\n");
        while (newline >= 0) {
          state.lines(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf("\n");
        }
      }
    })().catch(() => {});
    void (async () => {
      const errors = new TextDecoder();
      for await (const chunk of proc.stderr)
        state.stderr = (state.stderr + errors.decode(chunk)).slice(-2000);
    })().catch(() => {});
    return state;
  };

  const kill = (state: Live) => {
    state.dead = true;
    if (live === state) live = undefined;
    try {
      state.proc.kill();
    } catch {
      // already gone
    }
  };

  /** Sends one framed script to a live process and waits for its reply, its death, or the timeout. */
  const exchange = async (script: string): Promise<string> => {
    if (!live || live.dead) {
      try {
        live = start();
      } catch (error) {
        throw new Error(
          `could not start ${options.argv[0]}: ${error instanceof Error ? error.message : error}`,
        );
      }
      if (options.prelude) {
        const fresh = live;
        await send(fresh, options.prelude, "prelude").catch((error: Error) => {
          kill(fresh);
          throw error;
        });
      }
    }
    return send(live, script, "command");
  };

  const send = (state: Live, script: string, what: string): Promise<string> => {
    const marker = `RELEVO-${nonce}-${++counter}`;
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, out = "") => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        state.lines = () => {};
        state.exited = () => {};
        if (error) reject(error);
        else resolve(out);
      };
      const timer = setTimeout(() => {
        kill(state);
        const error = new TimeoutError(`PowerShell ${what}`, options.timeoutMs);
        options.onRestart?.(error.message);
        finish(error);
      }, options.timeoutMs);
      state.lines = (line) => {
        const reply = parseReplyLine(line, marker);
        if (!reply) return;
        if (!reply.ok) finish(new Error(`PowerShell ${what} failed: ${reply.err.trim() || "no message"}`));
        else if (!reply.out.trim() && what !== "prelude")
          finish(new Error(`PowerShell ${what} printed nothing${reply.err ? `: ${reply.err.trim()}` : ""}`));
        else finish(undefined, reply.out);
      };
      state.exited = (code) => {
        // Give the stderr reader a moment to take in the last words before naming them.
        setTimeout(() => {
          const tail = state.stderr.trim().split(/\r?\n/).slice(-3).join(" ").slice(0, 400);
          const reason = `PowerShell exited with code ${code}${tail ? `: ${tail}` : ""}`;
          if (!state.closing) options.onRestart?.(reason);
          finish(new Error(reason));
        }, 20);
      };
      if (state.dead) state.exited(state.proc.exitCode);
      try {
        state.proc.stdin.write(`${frameCommand(script, marker)}\n`);
        state.proc.stdin.flush();
      } catch {
        // A closed pipe: the exit handler above names the cause once the process is reaped.
        if (state.proc.exitCode === null) kill(state);
      }
    });
  };

  const pump = () => {
    if (busy) return;
    const job = queue.shift();
    if (!job) return;
    busy = true;
    exchange(job.script)
      .then(job.resolve, job.reject)
      .finally(() => {
        busy = false;
        pump();
      });
  };

  return {
    run(script) {
      return new Promise<string>((resolve, reject) => {
        queue.push({ script, resolve, reject });
        pump();
      });
    },
    async close() {
      for (const job of queue.splice(0)) job.reject(new Error("the PowerShell session was closed"));
      const state = live;
      live = undefined;
      if (!state || state.dead) return;
      state.dead = true;
      state.closing = true;
      try {
        // End of stdin ends `-Command -`; a process still busy is killed shortly after.
        state.proc.stdin.end();
      } catch {
        // already closed
      }
      const timer = setTimeout(() => {
        if (state.proc.exitCode === null) state.proc.kill();
      }, 2_000);
      // Waited for, so the process never outlives the agent (an orphan nobody reaps).
      await state.proc.exited;
      clearTimeout(timer);
    },
  };
}
