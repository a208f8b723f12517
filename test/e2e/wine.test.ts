// The Windows executables, cross-compiled here and started under Wine: they start, parse their flags,
// collect and send to the Linux server without crashing. Wine's PowerShell is a stub, so most Windows data
// comes back empty: this says nothing about the data (recorded output and the Windows CI job do that).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VERSION } from "../../src/shared/version.ts";
import {
  BUILD_TIMEOUT_MS,
  type CompiledServer,
  executables,
  isolate,
  REPO,
  reportsFrom127,
  run,
  startServer,
  tempDir,
} from "./_run.ts";

// The prefix setup and the bcryptprimitives.dll stand-in Wine 8.0 lacks, kept beside this test.
const setupScript = join(REPO, "test", "e2e", "wine", "setup-prefix.sh");
const wine = Bun.which("wine") ?? Bun.which("wine64");
const skipWhy =
  process.platform !== "linux" || process.arch !== "x64"
    ? `not on Linux x64 (${process.platform}-${process.arch})`
    : !wine
      ? "wine is not installed (apt-get install -y wine64 wine)"
      : !existsSync(setupScript)
        ? `${setupScript} is missing`
        : "";
if (skipWhy) console.warn(`e2e: skipping the Windows executables under Wine: ${skipWhy}`);

// One prefix per user, kept between runs: making it takes seconds, reusing it none.
const prefix = join(tmpdir(), `relevo-wine-${process.getuid?.() ?? 0}`);
const wineEnv = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: "-all", WINEARCH: "win64" } as Record<
  string,
  string
>;

describe.skipIf(Boolean(skipWhy))("the Windows x64 executables under Wine", () => {
  let agent = "";
  let server = "";
  let linuxServer: CompiledServer | undefined;

  beforeAll(async () => {
    const built = await executables(["windows-x64", "linux-x64"]);
    const bin = isolate([built["agent-windows-x64"]?.path ?? "", built["server-windows-x64"]?.path ?? ""]);
    agent = bin["relevo-agent-windows-x64.exe"] ?? "";
    server = bin["relevo-server-windows-x64.exe"] ?? "";
    const setup = await run(["bash", setupScript, prefix], { env: wineEnv, timeoutMs: 120_000 });
    if (setup.code !== 0) throw new Error(`wine prefix setup failed:\n${setup.stderr}${setup.stdout}`);
    const linux = built["server-linux-x64"]?.path ?? "";
    linuxServer = await startServer(
      [linux, "serve", "--port", "0", "--data", tempDir("relevo-wine-data-")],
      tmpdir(),
    );
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await linuxServer?.stop();
    // Stops this prefix's Wine processes (and only this prefix's).
    await run(["wineserver", "-k"], { env: wineEnv, timeoutMs: 15_000 }).catch(() => undefined);
  });

  const wineRun = (exe: string, args: string[], timeoutMs: number) =>
    run([wine as string, exe, ...args], { env: wineEnv, cwd: tempDir("relevo-wine-cwd-"), timeoutMs });

  test("--version", async () => {
    for (const exe of [agent, server]) {
      const out = await wineRun(exe, ["--version"], 30_000);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout.trim()).toBe(VERSION);
    }
  }, 60_000);

  test("collect prints a report and exits 0", async () => {
    const out = await wineRun(agent, ["collect"], 90_000);
    expect(out.timedOut).toBe(false);
    expect(out.code, out.stderr).toBe(0);
    const report = JSON.parse(out.stdout) as {
      schema_version: number;
      os: { platform: string; arch: string };
      host: { hostname: string };
      cpu: { cores: number };
      memory: { total_bytes: number };
      errors: { collector: string; message: string }[];
    };
    expect(report.schema_version).toBe(1);
    expect(report.os.platform).toBe("win32");
    // Wine's powershell.exe is a stub that exits at once: what the runtime knows is still there, and every
    // PowerShell command fails at once with the exit, none waiting out its timeout.
    expect(report.host.hostname).not.toBe("");
    expect(report.os.arch).toBe("x64");
    expect(report.cpu.cores).toBeGreaterThan(0);
    expect(report.memory.total_bytes).toBeGreaterThan(0);
    expect(report.errors.filter((error) => /timed out/.test(error.message))).toEqual([]);
  }, 100_000);

  test("install --print shows the Windows plan: task XML, schtasks, icacls, quoted paths", async () => {
    const out = await wineRun(
      agent,
      ["install", "--print", "--url", "http://inventory.example:5000", "--token", "rlv_x"],
      30_000,
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain("on Windows (Task Scheduler)");
    expect(out.stdout).toContain("     to C:\\Program Files\\relevo\\relevo-agent.exe");
    expect(out.stdout).toContain(
      'run: icacls C:\\ProgramData\\relevo /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F"',
    );
    expect(out.stdout).toContain(
      "<Command>&quot;C:\\Program Files\\relevo\\relevo-agent.exe&quot;</Command>",
    );
    expect(out.stdout).toContain(
      "run: schtasks /Create /TN relevo-agent /XML C:\\ProgramData\\relevo\\relevo-agent.task.xml /F",
    );
    expect(out.stdout).not.toContain("rlv_x");
    expect(out.stdout).not.toContain("\r");
    const gone = await wineRun(server, ["uninstall", "--print", "--purge"], 30_000);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toContain("remove C:\\ProgramData\\relevo\\server and everything in it");
  }, 60_000);

  test("the data directory's lock (CreateFileW, share mode 0, through bun:ffi) refuses a second server", async () => {
    // Its own prefix: Windows processes ended by a signal can leave a prefix's wineserver in a state where
    // the next program there exits 0 at once, doing nothing.
    const lockPrefix = `${prefix}-lock`;
    const env = { ...wineEnv, WINEPREFIX: lockPrefix };
    const setup = await run(["bash", setupScript, lockPrefix], { env, timeoutMs: 120_000 });
    expect(setup.code, setup.stderr).toBe(0);
    const data = tempDir("relevo-wine-lock-");
    const lockFile = join(data, "relevo.lock");
    const serveArgs = [wine as string, server, "serve", "--port", "0", "--data", data];
    // Under Wine SIGTERM ends the process outright (143); wineserver closes its handles a moment later, and
    // the lock file (delete on close) goes with them.
    const lockGone = async () => {
      for (let i = 0; i < 300 && existsSync(lockFile); i++) await Bun.sleep(50);
      return !existsSync(lockFile);
    };
    try {
      const first = await startServer(serveArgs, tmpdir(), env);
      const second = await run(serveArgs, { env, cwd: tmpdir(), timeoutMs: 60_000 });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain("in use by another relevo-server");
      await first.stop();
      expect(await lockGone()).toBe(true);
      const third = await startServer(serveArgs, tmpdir(), env);
      expect(third.log()).toContain("listening on");
      await third.stop();
      expect(await lockGone()).toBe(true);
    } finally {
      await run(["wineserver", "-k"], { env, timeoutMs: 15_000 }).catch(() => undefined);
    }
  }, 240_000);

  test("run --once delivers to the Linux server", async () => {
    const url = linuxServer?.url as string;
    const before = (await reportsFrom127(url)).length;
    const out = await wineRun(
      agent,
      ["run", "--once", "--url", url, "--spool", tempDir("relevo-wine-spool-")],
      90_000,
    );
    expect(out.timedOut).toBe(false);
    expect(out.code, out.stderr).toBe(0);
    const reports = await reportsFrom127(url);
    expect(reports.length).toBe(before + 1);
    expect((reports.at(-1) as { os: { platform: string } }).os.platform).toBe("win32");
  }, 100_000);
});
