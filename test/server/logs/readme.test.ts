// The README's curl examples for central logs, run as written (only the port differs) with real curl
// against the real server: the log service's clients keep working once a token exists.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO, type RunningServer, startServer, tempDir } from "../../helpers/server.ts";
import { makeToken } from "../../helpers/token-cli.ts";

const CURL = Bun.which("curl");
const MARKER = "<!-- readme.test.ts: logs curl examples -->";

/** The sh block right after the marker in README.md. */
async function readmeBlock(): Promise<string> {
  const readme = await Bun.file(join(REPO, "README.md")).text();
  const at = readme.indexOf(MARKER);
  expect(at).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block?.[1]) throw new Error("no sh block after the marker in README.md");
  return block[1];
}

let server: RunningServer | undefined;
const env: Record<string, string> = {};
beforeAll(async () => {
  if (!CURL) return;
  const dir = tempDir();
  env.TOKEN = await makeToken(dir, "logs", "--service", "reports");
  env.READ_TOKEN = await makeToken(dir, "read");
  server = await startServer([], dir);
});
afterAll(async () => {
  await server?.stop();
});

test.skipIf(!CURL)("the README's curl block works as written (needs curl; .ci/run installs it)", async () => {
  const block = await readmeBlock();
  expect(block).toContain("http://127.0.0.1:5000/");
  const script = block.replaceAll("127.0.0.1:5000", `127.0.0.1:${server?.port}`);
  // Each answer on its own line, so the test can tell them apart; the commands themselves are unchanged.
  const proc = Bun.spawn(["sh", "-e", "-c", script.replaceAll("curl ", "curl -sS -w '\\n' ")], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const answers = out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  expect(answers).toHaveLength(4);
  expect(answers[0].message).toStartWith("relevo ");
  expect(answers[1]).toEqual({ ok: true, accepted: 1, duplicates: 0 });
  expect(answers[2]).toEqual({ ok: true, accepted: 2, duplicates: 0 });
  expect(answers[3].count).toBe(2);
  expect(
    answers[3].logs.map((l: { service: string; severity: string; message: string; timestamp: string }) => [
      l.service,
      l.severity,
      l.message,
      l.timestamp,
    ]),
  ).toEqual([
    ["reports", "ERROR", "backup failed", "2025-08-27T10:00:02.000Z"],
    ["reports", "WARNING", "disk 91% full", "2025-08-27T10:00:01.000Z"],
  ]);
});
