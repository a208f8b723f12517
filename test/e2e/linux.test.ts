// The Linux x64 executables as an admin gets them: copied alone into an empty folder and run with nothing
// but PATH=/usr/bin:/bin (no Bun, no Node, no sources), from a folder holding a hostile .env and
// bunfig.toml that must be ignored. The server starts on a free 127.0.0.1 port, the agent delivers to it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VERSION } from "../../src/shared/version.ts";
import {
  BUILD_TIMEOUT_MS,
  type CompiledServer,
  executables,
  isolate,
  reportsFrom127,
  run,
  startServer,
  tempDir,
} from "./_run.ts";

const supported = process.platform === "linux" && process.arch === "x64";
if (!supported)
  console.warn(`e2e: skipping the Linux x64 executables on ${process.platform}-${process.arch}`);

/** `env -i PATH=/usr/bin:/bin exe ...`: the executable sees no other variable. */
const bare = (exe: string, ...args: string[]) => ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", exe, ...args];

describe.skipIf(!supported)("the Linux x64 executables, alone in an empty folder", () => {
  let agent = "";
  let server = "";
  let work = "";
  let running: CompiledServer | undefined;

  beforeAll(async () => {
    const built = await executables(["linux-x64"]);
    const bin = isolate([built["agent-linux-x64"]?.path ?? "", built["server-linux-x64"]?.path ?? ""]);
    agent = bin["relevo-agent-linux-x64"] ?? "";
    server = bin["relevo-server-linux-x64"] ?? "";
    // The folder they run from: a .env and a bunfig.toml a compiled Bun program would load unless told not to.
    work = tempDir("relevo-e2e-cwd-");
    writeFileSync(join(work, ".env"), "RELEVO_NO_COMMAND_LINES=1\nRELEVO_URL=http://127.0.0.1:9/\n");
    writeFileSync(join(work, "bunfig.toml"), 'preload = ["./hostile.js"]\n');
    writeFileSync(
      join(work, "hostile.js"),
      'console.log("HOSTILE PRELOAD"); require("node:fs").writeFileSync("hostile-ran", "1");\n',
    );
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await running?.stop();
  });

  const clean = (out: { stdout: string; stderr: string }) => {
    expect(`${out.stdout}${out.stderr}`).not.toContain("HOSTILE");
    expect(existsSync(join(work, "hostile-ran"))).toBe(false);
  };

  test("--version prints the version, ignoring the folder's bunfig.toml", async () => {
    for (const exe of [agent, server]) {
      const out = await run(bare(exe, "--version"), { cwd: work, timeoutMs: 10_000 });
      expect(out.code).toBe(0);
      expect(out.stdout.trim()).toBe(VERSION);
      clean(out);
    }
  });

  test("the agent delivers a report to the server over 127.0.0.1, ignoring the folder's .env", async () => {
    const data = tempDir("relevo-e2e-data-");
    running = await startServer(
      bare(server, "serve", "--host", "127.0.0.1", "--port", "0", "--data", data),
      work,
    );
    const health = (await (await fetch(`${running.url}/health`)).json()) as { version: string };
    expect(health.version).toBe(VERSION);

    const spool = tempDir("relevo-e2e-spool-");
    const out = await run(bare(agent, "run", "--once", "--url", running.url, "--spool", spool), {
      cwd: work,
      timeoutMs: 45_000,
    });
    expect(out.code, out.stderr).toBe(0);
    clean(out);

    const reports = await reportsFrom127(running.url);
    expect(reports.length).toBeGreaterThanOrEqual(1);
    const last = reports.at(-1) as {
      agent: { version: string };
      os: { platform: string };
      processes: { list: { command?: string | null }[] };
    };
    expect(last.agent.version).toBe(VERSION);
    expect(last.os.platform).toBe("linux");
    // The .env said RELEVO_NO_COMMAND_LINES=1; ignored, so the agent's own command line is in the report.
    expect(last.processes.list.some((p) => p.command?.includes("--once"))).toBe(true);
    clean(out);
  }, 60_000);

  test("install --print shows the unit and touches nothing", async () => {
    const before = existsSync("/etc/systemd/system/relevo-agent.service");
    const a = await run(
      bare(agent, "install", "--print", "--url", "http://inventory.example:5000", "--token", "rlv_x"),
      {
        cwd: work,
        timeoutMs: 10_000,
      },
    );
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain("Printed only: nothing was written or run.");
    expect(a.stdout).toContain(`copy ${agent}\n`);
    expect(a.stdout).toContain(
      "ExecStart=/usr/local/bin/relevo-agent run --url http://inventory.example:5000 --spool /var/lib/relevo-agent",
    );
    expect(a.stdout).toContain("RELEVO_TOKEN=********");
    expect(a.stdout).not.toContain("rlv_x");
    expect(existsSync("/etc/systemd/system/relevo-agent.service")).toBe(before);
    clean(a);

    const s = await run(bare(server, "install", "--print", "--host", "0.0.0.0", "--port", "5000"), {
      cwd: work,
      timeoutMs: 10_000,
    });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain(
      "ExecStart=/usr/local/bin/relevo-server serve --host 0.0.0.0 --port 5000 --data /var/lib/relevo-server",
    );
    expect(s.stdout).toContain("User=relevo-server");

    const u = await run(bare(server, "uninstall", "--print", "--purge"), { cwd: work, timeoutMs: 10_000 });
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toContain("remove /var/lib/relevo-server and everything in it");
  });

  test("the data directory's lock (flock through bun:ffi) holds in the compiled server", async () => {
    const data = tempDir("relevo-e2e-lock-");
    const first = await startServer(bare(server, "serve", "--port", "0", "--data", data), work);
    const second = await run(bare(server, "serve", "--port", "0", "--data", data), {
      cwd: work,
      timeoutMs: 10_000,
    });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("in use by another relevo-server");
    expect(await first.stop()).toBe(0);
    const third = await startServer(bare(server, "serve", "--port", "0", "--data", data), work);
    expect(await third.stop()).toBe(0);
  }, 30_000);

  test("an unknown flag is refused with exit 2 and the closest flag", async () => {
    const cases: Array<[string, string[], string]> = [
      [server, ["serve", "--porrt", "5999"], "unknown flag --porrt for serve; did you mean --port?"],
      [server, ["serve", "--tls-crt", "c.pem"], "did you mean --tls-cert?"],
      [agent, ["run", "--url", "http://127.0.0.1:9", "--intervall", "5"], "did you mean --interval?"],
      [agent, ["collect", "now"], 'unexpected argument "now" for collect'],
    ];
    for (const [exe, args, message] of cases) {
      const out = await run(bare(exe, ...args), { cwd: work, timeoutMs: 10_000 });
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(message);
    }
  });

  test("collect | head -c 100 ends quietly with status 0", async () => {
    const out = await run(
      ["/bin/bash", "-c", '"$0" collect | head -c 100 >/dev/null; exit "$PIPESTATUS"', agent],
      { cwd: work, timeoutMs: 30_000 },
    );
    expect(out.stderr).not.toContain("EPIPE");
    expect(out.code).toBe(0);
    // Closed before the report is written: the write itself meets the closed pipe.
    const closed = await run(["/bin/bash", "-c", '"$0" collect | true; exit "$PIPESTATUS"', agent], {
      cwd: work,
      timeoutMs: 30_000,
    });
    expect(closed.stderr).toBe("");
    expect(closed.code).toBe(0);
  }, 60_000);

  // As root, drop to nobody to see the refusal; as anyone else, the refusal is what happens anyway.
  const asUser =
    process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  const canDrop = asUser.length === 0 || Boolean(Bun.which("setpriv"));
  test.skipIf(!canDrop)("install and uninstall without root stop with a message and exit 1", async () => {
    // The executables sit in a 0700 temp folder: give the unprivileged user its own copy.
    const open = tempDir("relevo-e2e-nobody-");
    chmodSync(open, 0o755);
    const exe = join(open, "relevo-agent-linux-x64");
    copyFileSync(agent, exe);
    chmodSync(exe, 0o755);
    for (const action of [["install", "--url", "http://inventory.example:5000"], ["uninstall"]]) {
      const out = await run([...asUser, ...bare(exe, ...action)], { cwd: "/", timeoutMs: 10_000 });
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(`relevo-agent ${action[0]} must run as root`);
    }
  });
});
