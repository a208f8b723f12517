// relevo-server's command line: each command does one thing, and a mistyped flag never goes unnoticed.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BUN, REPO, tempDir } from "../helpers/server.ts";

const CLI = join(REPO, "src", "server", "cli.ts");

/** Runs relevo-server from source; killed (and reported) if it is still running after `timeoutMs`. */
async function run(args: string[], timeoutMs = 15_000) {
  const proc = Bun.spawn([BUN, CLI, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { stdout, stderr, code, killed };
}

describe("relevo-server commands", () => {
  test("--data D token list prints the list and starts no server", async () => {
    const dir = tempDir();
    const result = await run(["--data", dir, "token", "list"], 5_000);
    expect(result.killed).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("no tokens");
    expect(result.stderr).not.toContain("listening on");
  });

  test("--data D before token create stores the token in D", async () => {
    const dir = tempDir();
    const result = await run(["--data", dir, "token", "create", "--role", "read"]);
    expect(result.code).toBe(0);
    expect(await Bun.file(join(dir, "tokens.json")).text()).toContain('"read-1"');
  });

  test("--verbose serve: one server, and SIGTERM ends it with 0", async () => {
    const dir = tempDir();
    const proc = Bun.spawn([BUN, CLI, "--verbose", "serve", "--port", "0", "--data", dir], {
      stdout: "ignore",
      stderr: "pipe",
    });
    const reader = proc.stderr.getReader();
    let log = "";
    while (!log.includes("listening on")) {
      const next = await reader.read();
      if (next.done) break;
      log += new TextDecoder().decode(next.value);
    }
    expect(log).toContain("listening on");
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      log += new TextDecoder().decode(next.value);
    }
    expect(await proc.exited).toBe(0);
    clearTimeout(killer);
    expect(log.match(/listening on/g)).toHaveLength(1);
  });

  test("no command is serve, with citty's default command", async () => {
    const result = await run(["--port", "0", "--data", tempDir(), "--fsync", "sometimes"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--fsync must be always or never, got "sometimes"');
  });
});

describe("unknown flags and stray arguments are refused with exit 2", () => {
  const cases: Array<[string[], string]> = [
    [["serve", "--porrt", "5999"], "unknown flag --porrt for serve; did you mean --port?"],
    [["--porrt", "5999"], "unknown flag --porrt for serve; did you mean --port?"],
    [["serve", "--tls-crt", "cert.pem"], "unknown flag --tls-crt for serve; did you mean --tls-cert?"],
    [["serve", "--no-auht"], "unknown flag --no-auht for serve; did you mean --no-auth?"],
    [["serve", "5999"], 'unexpected argument "5999" for serve'],
    [["srve"], 'unknown command "srve"; did you mean serve?'],
    [["token", "list", "--dta", "x"], "unknown flag --dta for token list; did you mean --data?"],
    [["token", "list", "extra"], 'unexpected argument "extra" for token list'],
    [["token", "revoke", "a", "b"], 'unexpected argument "b" for token revoke'],
    [["token", "create", "--role", "ingest", "--rol", "read"], "unknown flag --rol"],
    [["token", "crate"], 'unknown command "crate"; did you mean create?'],
    [["install", "--print", "--prot", "80"], "unknown flag --prot for install; did you mean --port?"],
    [["uninstall", "--purg"], "unknown flag --purg for uninstall; did you mean --purge?"],
    [["serve", "--port"], "--port needs a value"],
  ];
  for (const [args, message] of cases) {
    test(`relevo-server ${args.join(" ")}`, async () => {
      const result = await run(args, 5_000);
      expect(result.killed).toBe(false);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toContain("listening on");
    });
  }
});
