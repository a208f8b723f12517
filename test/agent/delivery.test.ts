// Delivery end to end against the real server (a child process on 127.0.0.1): reports kept while it is
// down, each stored exactly once when it is back, 4xx not retried; then the agent's own CLI the same way,
// including SIGKILL in the middle of spooling and SIGTERM.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAgent } from "../../src/agent/agent.ts";
import { DEFAULTS, parseUploadUrl } from "../../src/agent/settings.ts";
import { decodeEntry } from "../../src/agent/spool.ts";
import { checkReport, type Report } from "../../src/shared/report.ts";
import { REPO, type RunningServer, startServer } from "../helpers/server.ts";
import { fakeCollector, freePort, recordingLog, tempDir, waitFor } from "./_helpers.ts";

const AGENT_CLI = join(REPO, "src", "agent", "cli.ts");
const servers: RunningServer[] = [];
const dirs: string[] = [];
const children: Bun.Subprocess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill("SIGKILL");
    await child.exited;
  }
  for (const server of servers.splice(0)) await server.stop();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dir(prefix: string): string {
  const path = tempDir(prefix);
  dirs.push(path);
  return path;
}

async function serverOn(port: number, dataDir: string, args: string[] = []): Promise<RunningServer> {
  const server = await startServer(["--port", String(port), "--rate-limit", "0", ...args], dataDir);
  servers.push(server);
  return server;
}

async function stopServer(server: RunningServer): Promise<void> {
  servers.splice(servers.indexOf(server), 1);
  expect(await server.stop()).toBe(0);
}

/** Every report the server stored for 127.0.0.1 today: report_id -> how many times. */
async function storedIds(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/query?ip=127.0.0.1`);
  const counts = new Map<string, number>();
  if (res.status === 404) return counts;
  expect(res.status).toBe(200);
  for (const report of (await res.json()) as { report_id: string }[]) {
    counts.set(report.report_id, (counts.get(report.report_id) ?? 0) + 1);
  }
  return counts;
}

/** The spool's entries; none yet when the agent has not made the directory. */
function spoolEntries(spool: string): string[] {
  try {
    return readdirSync(spool).filter((n) => n.endsWith(".report"));
  } catch {
    return [];
  }
}

function settingsFor(port: number, spoolDir: string) {
  return {
    uploadUrl: parseUploadUrl(`http://127.0.0.1:${port}`),
    token: undefined,
    intervalS: 0.1,
    timeoutS: 5,
    spoolDir,
    caFile: undefined,
    commandLines: true,
    spoolMaxReports: DEFAULTS.spoolMaxReports,
    spoolMaxBytes: DEFAULTS.spoolMaxBytes,
  };
}

describe("delivery to the real server", () => {
  test("server down: reports kept; server back: each one stored exactly once (twice over)", async () => {
    const port = freePort();
    const data = dir("relevo-data-");
    const spool = join(dir("relevo-spool-"), "spool");
    const collector = fakeCollector();
    const controller = new AbortController();
    const running = runAgent(
      settingsFor(port, spool),
      {
        collector,
        now: Date.now,
        random: Math.random,
        log: recordingLog(),
        backoff: { baseMs: 50, maxMs: 200 },
      },
      { once: false, signal: controller.signal },
    );
    try {
      await waitFor("4 spooled reports", () => spoolEntries(spool).length >= 4);
      let server = await serverOn(port, data);
      await waitFor("the spool to empty", () => spoolEntries(spool).length === 0);
      // Down again, then back.
      await stopServer(server);
      const before = collector.ids.length;
      await waitFor(
        "3 more spooled",
        () => spoolEntries(spool).length >= 3 && collector.ids.length >= before + 3,
      );
      server = await serverOn(port, data);
      await waitFor("the spool to empty again", () => spoolEntries(spool).length === 0);
      const now = collector.ids.length;
      await waitFor("2 more reports", () => collector.ids.length >= now + 2);
      controller.abort();
      await running;
      expect(collector.closed).toBe(true);
      // The report in hand when stopping was kept (it may have reached the server too: at least once).
      // The next start sends it; the server's report_id dedup keeps one copy.
      const last = await runAgent(
        settingsFor(port, spool),
        { collector: fakeCollector(), now: Date.now, random: Math.random, log: recordingLog() },
        { once: true, signal: new AbortController().signal },
      );
      expect(last?.report).toBe("delivered");
      expect(spoolEntries(spool)).toEqual([]);
      const stored = await storedIds(server.url);
      for (const id of collector.ids) expect(stored.get(id)).toBe(1);
      expect(stored.size).toBe(collector.ids.length + 1);
      expect([...stored.values()].every((n) => n === 1)).toBe(true);
    } finally {
      controller.abort();
      await running.catch(() => {});
    }
  }, 45_000);

  // [what, server flags, agent token, status]
  const refusals: [string, string[], string | undefined, number][] = [
    ["413: larger than the server takes", ["--max-body", "1024"], undefined, 413],
    ["401: a wrong token, kept in the spool", [], "not-the-token", 401],
  ];
  for (const [what, flags, token, status] of refusals) {
    test(`a 4xx is not retried (${what})`, async () => {
      const port = freePort();
      const data = dir("relevo-data-");
      if (token) {
        const made = Bun.spawnSync(
          [
            process.execPath,
            join(REPO, "src", "server", "cli.ts"),
            "token",
            "create",
            "--role",
            "ingest",
            "--data",
            data,
          ],
          { cwd: REPO, stderr: "pipe" },
        );
        expect(made.exitCode).toBe(0);
      }
      const server = await serverOn(port, data, flags);
      const spool = join(dir("relevo-spool-"), "spool");
      let requests = 0;
      const counting = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
        requests++;
        return fetch(input, init);
      }) as typeof fetch;
      const log = recordingLog();
      const result = await runAgent(
        { ...settingsFor(port, spool), token },
        { collector: fakeCollector(), now: Date.now, random: Math.random, log, fetch: counting },
        { once: true, signal: new AbortController().signal },
      );
      expect(requests).toBe(1);
      if (status === 401) {
        // A token problem, not a report problem: the report waits in the spool for a token that works.
        expect(result).toMatchObject({ report: "spooled" });
        expect(spoolEntries(spool)).toHaveLength(1);
      } else {
        expect(result).toMatchObject({ report: "rejected", status });
        expect(spoolEntries(spool)).toEqual([]);
      }
      // The server's own message is in the log.
      expect(log.lines.some((l) => l.startsWith("error") && l.includes(`(${status} `))).toBe(true);
      // Nothing stored: no day file on disk (read straight from the directory, whatever the token mode),
      // and where /files needs no token it lists none.
      expect(readdirSync(data).filter((name) => /_\d{4}-\d{2}-\d{2}\.json$/.test(name))).toEqual([]);
      const files = await fetch(`${server.url}/files`);
      if (token) expect(files.status).toBe(401);
      else expect(((await files.json()) as { files: unknown[] }).files).toEqual([]);
    }, 30_000);
  }
});

/** Runs the agent CLI; XDG_CONFIG_HOME points at an empty dir so this machine's config file stays out. */
function agent(args: string[], env: Record<string, string> = {}) {
  const home = dir("relevo-home-");
  const child = Bun.spawn([process.execPath, AGENT_CLI, ...args], {
    cwd: REPO,
    env: { ...process.env, XDG_CONFIG_HOME: home, XDG_STATE_HOME: home, RELEVO_URL: "", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  children.push(child);
  return {
    child,
    async done() {
      const [code, stdout, stderr] = await Promise.all([
        child.exited,
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
      ]);
      children.splice(children.indexOf(child), 1);
      return { code, stdout, stderr };
    },
  };
}

describe("the agent CLI", () => {
  test("--version prints the version", async () => {
    const { code, stdout } = await agent(["--version"]).done();
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test("a bad --url is one line and a non-zero exit", async () => {
    const { code, stderr } = await agent(["run", "--url", "ftp://x", "--once"]).done();
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("--url must start with http:// or https://");
  });

  test("run without a URL says where one can come from", async () => {
    const { code, stderr } = await agent(["run", "--once", "--spool", join(dir("s-"), "spool")]).done();
    expect(code).toBe(1);
    expect(stderr).toContain("run needs --url (or RELEVO_URL");
  });

  test("collect prints exactly one JSON report on stdout, logs on stderr; --pretty indents it", async () => {
    const plain = await agent(["collect"]).done();
    expect(plain.code).toBe(0);
    const lines = plain.stdout.split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(checkReport(JSON.parse(lines[0] as string)).ok).toBe(true);
    const pretty = await agent(["collect", "--pretty", "--no-command-lines"]).done();
    expect(pretty.code).toBe(0);
    const report = JSON.parse(pretty.stdout) as Report;
    expect(pretty.stdout.split("\n").length).toBeGreaterThan(20);
    expect(report.processes.list.length).toBeGreaterThan(0);
    expect(report.processes.list.every((p) => p.command === "")).toBe(true);
  }, 30_000);

  test("run --once takes its URL from --config and its spool from --env-file", async () => {
    const server = await serverOn(freePort(), dir("relevo-data-"));
    const home = dir("relevo-conf-");
    const spool = join(home, "spool");
    writeFileSync(join(home, "agent.json"), JSON.stringify({ url: server.url, "no-command-lines": true }));
    writeFileSync(join(home, "agent.env"), `# secrets\nRELEVO_SPOOL=${spool}\nOTHER=ignored\n`);
    const once = await agent([
      "run",
      "--once",
      "--config",
      join(home, "agent.json"),
      "--env-file",
      join(home, "agent.env"),
    ]).done();
    expect(once.stderr).toContain(`delivered to ${server.url}/upload`);
    expect(once.code).toBe(0);
    expect(readdirSync(spool)).toEqual([]);
    expect((await storedIds(server.url)).size).toBe(1);
  }, 30_000);

  test("SIGKILL while spooling, again and again: the spool stays readable and everything arrives once", async () => {
    const port = freePort();
    const spool = join(dir("relevo-spool-"), "spool");
    for (let round = 0; round < 3; round++) {
      // The server is down: every report goes to the spool. RELEVO_URL names the port (no --url flag).
      const run = agent(["run", "--interval", "1", "--spool", spool], {
        RELEVO_URL: `http://127.0.0.1:${port}`,
      });
      await waitFor("a spooled report", () => spoolEntries(spool).length > round);
      await Bun.sleep(Math.random() * 800);
      run.child.kill("SIGKILL");
      await run.done();
      for (const name of spoolEntries(spool)) {
        expect(typeof decodeEntry(readFileSync(join(spool, name)))).toBe("object");
      }
    }
    const spooled = spoolEntries(spool).map((n) => {
      const entry = decodeEntry(readFileSync(join(spool, n)));
      return typeof entry === "string" ? entry : entry.reportId;
    });
    expect(spooled.length).toBeGreaterThanOrEqual(3);
    const server = await serverOn(port, dir("relevo-data-"));
    // The flag wins over a wrong RELEVO_URL; the dead agents' lock is taken over.
    const once = await agent(["run", "--once", "--url", server.url, "--spool", spool, "--no-command-lines"], {
      RELEVO_URL: "http://127.0.0.1:9",
    }).done();
    expect(once.stderr).toContain("taking over the lock");
    expect(once.code).toBe(0);
    expect(spoolEntries(spool)).toEqual([]);
    const stored = await storedIds(server.url);
    for (const id of spooled) expect(stored.get(id)).toBe(1);
    expect(stored.size).toBe(spooled.length + 1);
    expect([...stored.values()].every((n) => n === 1)).toBe(true);
    const reports = (await (await fetch(`${server.url}/query?ip=127.0.0.1`)).json()) as {
      processes: { list: { command: string }[] };
    }[];
    // --no-command-lines: the report --once collected carries none.
    expect(reports.at(-1)?.processes.list.every((p) => p.command === "")).toBe(true);
  }, 60_000);

  test("run: a second agent on the same spool is refused; SIGTERM stops the first cleanly", async () => {
    const server = await serverOn(freePort(), dir("relevo-data-"));
    const spool = join(dir("relevo-spool-"), "spool");
    const first = agent(["run", "--url", server.url, "--interval", "1", "--spool", spool]);
    await waitFor("a delivered report", async () => (await storedIds(server.url)).size >= 1, 20_000);
    const second = await agent(["run", "--url", server.url, "--once", "--spool", spool]).done();
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `the spool ${spool} is in use by another relevo-agent (pid ${first.child.pid}`,
    );
    // Windows has no SIGTERM to catch: there a kill ends the process at once.
    if (process.platform === "win32") return;
    first.child.kill("SIGTERM");
    const { code, stderr } = await first.done();
    expect(code).toBe(0);
    expect(stderr).toContain("stopping");
    expect(readdirSync(spool).includes("agent.lock")).toBe(false);
  }, 40_000);
});
