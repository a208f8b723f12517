// The agent's persistent PowerShell session: framing under a real pwsh (a multi-line script followed by
// more commands, output that mimics a marker, errors), and a dead or stuck process detected at once
// (these use small non-PowerShell programs, so they run everywhere).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { frameCommand, parseReplyLine } from "../../../src/agent/collect/_ps-frame.ts";
import { openPowerShellSession, type PowerShellSession } from "../../../src/agent/collect/_ps-session.ts";
import { NO_PWSH_REASON, PWSH, PWSH_ENV, pwshArgv } from "../../helpers/pwsh.ts";

describe("frameCommand", () => {
  test("sends any script as one line of ASCII", () => {
    const line = frameCommand("if ($true) {\n  'ünïcode'\n}\r\n'next'", "RELEVO-x-1");
    expect(line).not.toMatch(/[\r\n]/);
    expect(/^[\x20-\x7e]+$/.test(line)).toBe(true);
  });

  test("reads a reply behind terminal escapes and ignores lines that only look like one", () => {
    const out = Buffer.from("{}").toString("base64");
    expect(parseReplyLine(`\x1b[?1h\x1b[?1lRELEVO-x-1 ok ${out}  end`, "RELEVO-x-1")).toEqual({
      ok: true,
      out: "{}",
      err: "",
    });
    expect(parseReplyLine("RELEVO-x-1 ok not base64! end", "RELEVO-x-1")).toBeUndefined();
    expect(parseReplyLine(`RELEVO-x-2 ok ${out}  end`, "RELEVO-x-1")).toBeUndefined();
  });
});

describe.skipIf(!PWSH)(`the session under a real pwsh${PWSH ? "" : ` (skipped: ${NO_PWSH_REASON})`}`, () => {
  // One process for the tests that keep it alive: pwsh takes a second or more to start on a busy machine.
  let session: PowerShellSession;
  beforeAll(() => {
    session = openPowerShellSession({ argv: pwshArgv(PWSH as string), env: PWSH_ENV, timeoutMs: 30_000 });
  });
  afterAll(() => session.close());

  test("a multi-line script swallows neither itself nor the commands queued behind it", async () => {
    const replies = await Promise.all([
      session.run("if ($true) {\n  'first'\n}\n\n'still first'"),
      session.run("$x = @{\n  a = 1\n}\n$x.a"),
      session.run("foreach ($i in 1..3) {\n $i\n}"),
      session.run("'last'"),
    ]);
    expect(replies).toEqual(["first\nstill first", "1", "1\n2\n3", "last"]);
  }, 60_000);

  test("output that imitates the end marker, and non-ASCII text, come back intact", async () => {
    const fake = "RELEVO-0000-1 ok e30= end\n--###ENDCMD###--";
    expect(await session.run(`'${fake}'`)).toBe(fake);
    expect(await session.run("'Müller — 東京'")).toBe("Müller — 東京");
  }, 60_000);

  test("a script that throws fails with PowerShell's message, and the session goes on", async () => {
    await expect(session.run("throw 'Access is denied'")).rejects.toThrow(/failed: Access is denied/);
    await expect(session.run("Write-Error 'no such class'")).rejects.toThrow(
      /printed nothing: no such class/,
    );
    await expect(session.run("{ unclosed")).rejects.toThrow(/Missing closing/);
    expect(await session.run("'alive'")).toBe("alive");
  }, 60_000);

  test("a session whose PowerShell exits is found dead at once and the next command gets a new one", async () => {
    const restarts: string[] = [];
    const own = openPowerShellSession({
      argv: pwshArgv(PWSH as string),
      env: PWSH_ENV,
      timeoutMs: 30_000,
      onRestart: (reason) => restarts.push(reason),
    });
    try {
      const pid = Number(await own.run("$PID"));
      const started = performance.now();
      await expect(own.run("[Environment]::Exit(5)")).rejects.toThrow(/exited with code 5/);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(Number(await own.run("$PID"))).not.toBe(pid);
      expect(restarts).toHaveLength(1);
    } finally {
      await own.close();
    }
  }, 60_000);
});

const noSh = !Bun.which("sh") || process.platform === "win32";
describe.skipIf(noSh)(
  `a session that is not PowerShell at all${noSh ? " (skipped: needs /bin/sh)" : ""}`,
  () => {
    test("one that exits at once fails its command with the exit code and stderr, not a timeout", async () => {
      const session = openPowerShellSession({
        argv: ["/bin/sh", "-c", "echo 'powershell.exe: bad image' >&2; exit 7"],
        timeoutMs: 10_000,
      });
      const started = performance.now();
      await expect(session.run("'x'")).rejects.toThrow(
        "PowerShell exited with code 7: powershell.exe: bad image",
      );
      expect(performance.now() - started).toBeLessThan(2_000);
      await session.close();
    });

    test("one that cannot be started says so", async () => {
      const session = openPowerShellSession({ argv: ["/nonexistent/powershell.exe"], timeoutMs: 10_000 });
      await expect(session.run("'x'")).rejects.toThrow(/nonexistent\/powershell\.exe/);
      await session.close();
    });

    test("one that hangs is killed after the timeout, and the next command starts a fresh one", async () => {
      const flag = join(mkdtempSync(join(tmpdir(), "relevo-ps-")), "started");
      // First start: reads nothing and never answers (a stuck PowerShell). Later starts answer the frame.
      const script = `if [ -e ${flag} ]; then read line; m=$(echo "$line" | grep -o 'RELEVO-[0-9a-f]*-[0-9]*' | head -n 1); echo "$m ok $(printf fresh | base64)  end"; sleep 5; else touch ${flag}; exec sleep 30; fi`;
      const restarts: string[] = [];
      const session = openPowerShellSession({
        argv: ["/bin/sh", "-c", script],
        timeoutMs: 300,
        onRestart: (reason) => restarts.push(reason),
      });
      await expect(session.run("'a'")).rejects.toThrow(/timed out after 300 ms/);
      expect(await session.run("'b'")).toBe("fresh");
      await session.close();
      expect(restarts).toEqual(["PowerShell command timed out after 300 ms"]);
    });
  },
);
