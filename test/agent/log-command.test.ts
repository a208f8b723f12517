// `relevo-agent log` end to end: the agent CLI from source against the real server on 127.0.0.1. One entry,
// lines of stdin in batches, bad input refused, and server down -> spooled -> server up -> delivered once.
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeEntry } from "../../src/agent/spool.ts";
import { jsonOf } from "../helpers/json.ts";
import { REPO, type RunningServer, startServer } from "../helpers/server.ts";
import { makeToken } from "../helpers/token-cli.ts";
import { freePort, tempDir, waitFor } from "./_helpers.ts";

const AGENT_CLI = join(REPO, "src", "agent", "cli.ts");
const servers: RunningServer[] = [];
const children: Bun.Subprocess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill("SIGKILL");
    await child.exited;
  }
  for (const server of servers.splice(0)) await server.stop();
});

interface Setup {
  port: number;
  dataDir: string;
  /** A logs token for service "cron", and a read token. */
  token: string;
  read: string;
}

async function setup(): Promise<Setup> {
  const dataDir = tempDir();
  return {
    port: freePort(),
    dataDir,
    token: await makeToken(dataDir, "logs", "--service", "cron"),
    read: await makeToken(dataDir, "read"),
  };
}

async function up(s: Setup): Promise<RunningServer> {
  const server = await startServer(["--port", String(s.port), "--rate-limit", "0"], s.dataDir);
  servers.push(server);
  return server;
}
async function down(server: RunningServer): Promise<void> {
  servers.splice(servers.indexOf(server), 1);
  expect(await server.stop()).toBe(0);
}

/** The agent CLI with an empty home (this machine's config file stays out) and no RELEVO_* of ours. */
function agent(args: string[], stdin?: string) {
  const home = tempDir("relevo-home-");
  const child = Bun.spawn([process.execPath, AGENT_CLI, ...args], {
    cwd: REPO,
    env: { ...process.env, XDG_CONFIG_HOME: home, XDG_STATE_HOME: home, RELEVO_URL: "", RELEVO_TOKEN: "" },
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  children.push(child);
  return Promise.all([child.exited, new Response(child.stderr).text()]).then(([code, stderr]) => {
    children.splice(children.indexOf(child), 1);
    return { code, stderr };
  });
}

const logArgs = (s: Setup, spool: string) => [
  "log",
  "--url",
  `http://127.0.0.1:${s.port}`,
  "--token",
  s.token,
  "--spool",
  spool,
  "--timeout",
  "5",
];

async function stored(s: Setup): Promise<{ message: string; entry_id: string; [k: string]: unknown }[]> {
  const res = await fetch(`http://127.0.0.1:${s.port}/logs?order=asc&limit=10000`, {
    headers: { authorization: `Token ${s.read}` },
  });
  expect(res.status).toBe(200);
  return (await jsonOf(res)).logs;
}

const spoolFiles = (spool: string) => {
  try {
    return readdirSync(spool).filter((n) => n.endsWith(".report"));
  } catch {
    return [];
  }
};

describe("relevo-agent log", () => {
  test("sends one entry: the words joined, severity normalised, host and a UUID v7 entry_id", async () => {
    const s = await setup();
    await up(s);
    const spool = tempDir();
    const result = await agent([
      ...logArgs(s, spool),
      "--service",
      "cron",
      "--severity",
      "warn",
      "disk",
      "at",
      "91%",
    ]);
    expect(result).toEqual({ code: 0, stderr: "" });
    const logs = await stored(s);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ service: "cron", severity: "WARNING", message: "disk at 91%" });
    expect(logs[0]?.host).toBeString();
    expect(logs[0]?.entry_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(spoolFiles(spool)).toEqual([]);
  });

  test("with - sends each line of stdin (blank lines skipped, CRLF taken), all of them, in order", async () => {
    const s = await setup();
    await up(s);
    const lines = Array.from({ length: 1203 }, (_, i) => `line ${i}`);
    const input = `${lines.slice(0, 600).join("\n")}\n\n${lines.slice(600).join("\r\n")}\r\n`;
    const result = await agent([...logArgs(s, tempDir()), "--service", "cron", "-"], input);
    expect(result).toEqual({ code: 0, stderr: "" });
    const logs = await stored(s);
    expect(logs.map((l) => l.message)).toEqual(lines);
    expect(new Set(logs.map((l) => l.entry_id)).size).toBe(1203);
  }, 30_000);

  test.each([
    [
      ["--service", "cron", "--sevrity", "INFO", "x"],
      "unknown flag --sevrity for log; did you mean --severity?",
    ],
    [["--service", "cron", "--severity", "LOUD", "x"], "--severity LOUD: severity must be one of"],
    [["--severity", "INFO", "x"], "--service"],
    [["--service", "cron"], "MESSAGE"],
  ])("refuses %p, sends and keeps nothing", async (args, message) => {
    const s = await setup();
    await up(s);
    const spool = tempDir();
    const result = await agent([...logArgs(s, spool), ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
    expect(await stored(s)).toEqual([]);
    expect(spoolFiles(spool)).toEqual([]);
  });

  test("an entry of a service the token may not write: non-zero, the server's reason, nothing kept", async () => {
    const s = await setup();
    await up(s);
    const spool = tempDir();
    const result = await agent([...logArgs(s, spool), "--service", "billing", "x"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("403 forbidden: this token may write only service cron");
    expect(await stored(s)).toEqual([]);
    expect(spoolFiles(spool)).toEqual([]);
  });

  test("server down: kept in the spool as log batches; server up: run sends them, once, even if resent", async () => {
    const s = await setup();
    const spool = tempDir();
    const one = await agent([
      ...logArgs(s, spool),
      "--service",
      "cron",
      "--severity",
      "error",
      "backup failed",
    ]);
    expect(one.code).toBe(0);
    expect(one.stderr).toContain("1 entry kept in the spool");
    const lines = Array.from({ length: 700 }, (_, i) => `nightly ${i}`);
    const many = await agent([...logArgs(s, spool), "--service", "cron", "-"], `${lines.join("\n")}\n`);
    expect(many.code).toBe(0);
    expect(many.stderr).toContain("700 entries kept in the spool");
    const files = spoolFiles(spool);
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const name of files) {
      const entry = decodeEntry(readFileSync(join(spool, name)));
      expect(typeof entry === "object" && entry.kind).toBe("logs");
    }
    // Keep a copy of one batch, as if the agent died after the server took it but before it was removed.
    const first = files[0] as string;
    const copy = join(tempDir(), first);
    copyFileSync(join(spool, first), copy);

    await up(s);
    const runArgs = [
      "run",
      "--once",
      "--url",
      `http://127.0.0.1:${s.port}`,
      "--token",
      s.token,
      "--spool",
      spool,
    ];
    // The token is a logs token, so the report itself is refused (403) after the spool is sent; a refused
    // token keeps the report in the spool (it is the token that is wrong, not the report).
    const logBatches = () =>
      spoolFiles(spool).filter((name) => {
        const entry = decodeEntry(readFileSync(join(spool, name)));
        return typeof entry === "object" && entry.kind === "logs";
      });
    const run = await agent(runArgs);
    expect(run.stderr).toContain("not delivered");
    expect(logBatches()).toEqual([]);
    const expected = ["backup failed", ...lines];
    expect((await stored(s)).map((l) => l.message)).toEqual(expected);

    copyFileSync(copy, join(spool, first));
    await agent(runArgs);
    expect(logBatches()).toEqual([]);
    expect((await stored(s)).map((l) => l.message)).toEqual(expected);
  }, 60_000);

  test("while a running agent holds the spool, log hands its batch over and that agent sends it", async () => {
    const s = await setup();
    const ingest = await makeToken(s.dataDir, "ingest");
    const server = await up(s);
    const spool = tempDir();
    const home = tempDir("relevo-home-");
    const runner = Bun.spawn(
      [process.execPath, AGENT_CLI, "run", "--interval", "1", "--url", `http://127.0.0.1:${s.port}`],
      {
        cwd: REPO,
        env: {
          ...process.env,
          XDG_CONFIG_HOME: home,
          XDG_STATE_HOME: home,
          RELEVO_TOKEN: ingest,
          RELEVO_SPOOL: spool,
        },
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      },
    );
    children.push(runner);
    await waitFor("the agent's lock", () => readdirSync(spool).includes("agent.lock"), 15_000);
    await down(server);
    const result = await agent([...logArgs(s, spool), "--service", "cron", "handed over"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("1 entry kept in the spool");
    expect(readdirSync(join(spool, "incoming")).filter((n) => n.endsWith(".report"))).toHaveLength(1);
    await up(s);
    await waitFor(
      "the hand-over delivered",
      async () => (await stored(s)).some((l) => l.message === "handed over"),
      20_000,
    );
    expect((await stored(s)).filter((l) => l.message === "handed over")).toHaveLength(1);
    expect(readdirSync(join(spool, "incoming"))).toEqual([]);
  }, 60_000);
});
