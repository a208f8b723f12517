// A real install on a throwaway machine: only where RELEVO_TEST_SYSTEM_INSTALL=1 (the GitHub Actions
// runners, which have systemd or Task Scheduler and passwordless sudo / an elevated Administrator). The
// server is installed on a free 127.0.0.1 port, an ingest token made as its user, the agent installed with
// that token; the agent's service must deliver a report by itself; then both are uninstalled with --purge.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { VERSION } from "../../src/shared/version.ts";
import { freePort } from "../helpers/server.ts";
import { BUILD_TIMEOUT_MS, executables, isolate, run } from "./_run.ts";

const wanted = process.env.RELEVO_TEST_SYSTEM_INSTALL === "1";
const windows = process.platform === "win32";
const supported = process.arch === "x64" && (process.platform === "linux" || windows);
if (!wanted)
  console.warn(
    "e2e: skipping the real service install (set RELEVO_TEST_SYSTEM_INSTALL=1 on a throwaway machine)",
  );

/** Root on Linux through sudo (unless already root); Windows CI shells are elevated already. */
const sudo = windows || process.getuid?.() === 0 ? [] : ["sudo", "-n"];
/** A folder every user may enter (the service's user cannot enter the runner's home). */
const cwd = windows ? undefined : "/";

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await Bun.sleep(500);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

async function diagnostics(): Promise<string> {
  const argv = windows
    ? ["schtasks", "/Query", "/TN", "relevo-agent", "/V", "/FO", "LIST"]
    : [...sudo, "journalctl", "--no-pager", "-n", "60", "-u", "relevo-server", "-u", "relevo-agent"];
  const out = await run(argv, { timeoutMs: 20_000 }).catch((error) => ({
    stdout: String(error),
    stderr: "",
  }));
  return `${out.stdout}${out.stderr}`;
}

describe.skipIf(!wanted || !supported)("a real install as a service", () => {
  let agent = "";
  let server = "";
  let port = 0;
  const installedServer = windows
    ? "C:\\Program Files\\relevo\\relevo-server.exe"
    : "/usr/local/bin/relevo-server";
  const serverData = windows ? "C:\\ProgramData\\relevo\\server" : "/var/lib/relevo-server";

  beforeAll(async () => {
    const target = windows ? "windows-x64" : "linux-x64";
    const built = await executables([target]);
    const bin = isolate([built[`agent-${target}`]?.path ?? "", built[`server-${target}`]?.path ?? ""]);
    agent = Object.entries(bin).find(([name]) => name.startsWith("relevo-agent"))?.[1] ?? "";
    server = Object.entries(bin).find(([name]) => name.startsWith("relevo-server"))?.[1] ?? "";
    port = await freePort();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    // Leave the machine as it was, whatever happened above.
    for (const exe of [agent, server]) {
      if (exe)
        await run([...sudo, exe, "uninstall", "--purge"], { cwd, timeoutMs: 60_000 }).catch(() => undefined);
    }
  });

  test("the server's service starts and answers", async () => {
    const out = await run([...sudo, server, "install", "--port", String(port)], { cwd, timeoutMs: 60_000 });
    expect(out.code, `${out.stderr}\n${await diagnostics()}`).toBe(0);
    const health = await until("the server's /health", 30_000, async () => {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      return response.ok ? ((await response.json()) as { version: string }) : undefined;
    });
    expect(health.version).toBe(VERSION);
  }, 120_000);

  test("the agent's service delivers a report with an ingest token made as the server's user", async () => {
    const asServer = windows ? [] : [...sudo, "-u", "relevo-server"];
    const made = await run(
      [
        ...asServer,
        installedServer,
        "token",
        "create",
        "--role",
        "ingest",
        "--name",
        "ci",
        "--data",
        serverData,
      ],
      { cwd, timeoutMs: 30_000 },
    );
    expect(made.code, made.stderr).toBe(0);
    const token = made.stdout.trim().split("\n").at(-1) ?? "";
    expect(token).toStartWith("rlv_");
    // With a token in place the server wants one for reading too: make a read token the same way.
    const reader = await run(
      [
        ...asServer,
        installedServer,
        "token",
        "create",
        "--role",
        "read",
        "--name",
        "ci-read",
        "--data",
        serverData,
      ],
      { cwd, timeoutMs: 30_000 },
    );
    const readToken = reader.stdout.trim().split("\n").at(-1) ?? "";

    const url = `http://127.0.0.1:${port}`;
    const out = await run([...sudo, agent, "install", "--url", url, "--interval", "30", "--token", token], {
      timeoutMs: 60_000,
    });
    expect(out.code, `${out.stderr}\n${await diagnostics()}`).toBe(0);
    expect(out.stdout + out.stderr).not.toContain(token);

    const reports = await until("a report from the agent's service", 90_000, async () => {
      const response = await fetch(`${url}/query?ip=127.0.0.1`, {
        headers: { authorization: `Bearer ${readToken}` },
      });
      if (!response.ok) return undefined;
      const list = (await response.json()) as { os: { platform: string } }[];
      return list.length ? list : undefined;
    }).catch(async (error) => {
      throw new Error(`${String(error)}\n${await diagnostics()}`);
    });
    expect(reports.at(-1)?.os.platform).toBe(process.platform);
  }, 180_000);

  test("uninstall --purge removes the services, the files and the data", async () => {
    for (const exe of [agent, server]) {
      const out = await run([...sudo, exe, "uninstall", "--purge"], { cwd, timeoutMs: 60_000 });
      expect(out.code, out.stderr).toBe(0);
    }
    const gone = windows
      ? [
          "C:\\Program Files\\relevo\\relevo-agent.exe",
          "C:\\ProgramData\\relevo\\server",
          "C:\\ProgramData\\relevo\\relevo-agent.env",
        ]
      : [
          "/etc/systemd/system/relevo-agent.service",
          "/etc/systemd/system/relevo-server.service",
          "/usr/local/bin/relevo-agent",
        ];
    // Windows may hold a just-stopped executable for a moment: the uninstall deletes it when it is free.
    await until("the installed files to go", 15_000, async () =>
      gone.some(existsSync) ? undefined : true,
    ).catch(() => undefined);
    expect(gone.filter(existsSync)).toEqual([]);
    const probe = windows
      ? await run(["schtasks", "/Query", "/TN", "relevo-agent"], { timeoutMs: 20_000 })
      : await run(["systemctl", "is-active", "relevo-agent.service"], { timeoutMs: 20_000 });
    expect(probe.code).not.toBe(0);
  }, 120_000);
});
