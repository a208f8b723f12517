// Enrollment end to end with the compiled executables: an enroll token, `relevo-agent register`, then
// `run --once`, the report in the day file with its agent.id, health ok; after `agent revoke`, the next
// run keeps its report in the spool and says why.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ENTRY_SUFFIX } from "../../src/agent/spool.ts";
import {
  BUILD_TIMEOUT_MS,
  type CompiledServer,
  executables,
  isolate,
  run,
  startServer,
  tempDir,
} from "./_run.ts";

const supported = process.platform === "linux" && process.arch === "x64";
if (!supported)
  console.warn(`e2e: skipping enrollment with the Linux x64 executables on ${process.platform}`);

const bare = (exe: string, ...args: string[]) => ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", exe, ...args];

describe.skipIf(!supported)("enrollment with the compiled agent and server", () => {
  let agent = "";
  let server = "";
  let data = "";
  let state = "";
  let read = "";
  let enroll = "";
  let running: CompiledServer | undefined;

  beforeAll(async () => {
    const built = await executables(["linux-x64"]);
    const bin = isolate([built["agent-linux-x64"]?.path ?? "", built["server-linux-x64"]?.path ?? ""]);
    agent = bin["relevo-agent-linux-x64"] ?? "";
    server = bin["relevo-server-linux-x64"] ?? "";
    data = tempDir("relevo-e2e-data-");
    state = tempDir("relevo-e2e-state-");
    const token = async (role: string) => {
      const out = await run(bare(server, "token", "create", "--role", role, "--data", data), {
        timeoutMs: 20_000,
      });
      expect(out.code).toBe(0);
      return out.stdout.trim();
    };
    enroll = await token("enroll");
    read = await token("read");
    running = await startServer(bare(server, "serve", "--port", "0", "--data", data), data);
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await running?.stop();
  });

  const spool = () => join(state, "spool");
  const agentRun = (...args: string[]) =>
    run(bare(agent, ...args, "--url", running?.url ?? "", "--spool", spool(), "--no-command-lines"), {
      cwd: state,
      timeoutMs: 60_000,
    });

  test("register, run --once, the report carries agent.id, health ok; a revoked token keeps spooling", async () => {
    const url = running?.url ?? "";
    const wrong = await agentRun("register", "--enroll-token", read);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("403");

    const registered = await agentRun("register", "--enroll-token", enroll);
    expect(registered.code).toBe(0);
    const id = Number(registered.stdout.trim());
    expect(Number.isInteger(id) && id > 0).toBe(true);
    const identityFile = join(spool(), "agent-identity.json");
    expect(statSync(identityFile).mode & 0o777).toBe(0o600);
    const identity = JSON.parse(readFileSync(identityFile, "utf8"));
    expect(identity.agent_id).toBe(id);

    const once = await agentRun("run", "--once");
    expect(once.code).toBe(0);
    const day = (await (
      await fetch(`${url}/query?ip=127.0.0.1`, { headers: { authorization: `Bearer ${read}` } })
    ).json()) as { agent: { id: string } }[];
    expect(day.at(-1)?.agent.id).toBe(String(id));
    const files = readdirSync(data).filter((name) => /^127\.0\.0\.1_\d{4}-\d{2}-\d{2}\.json$/.test(name));
    expect(files).toHaveLength(1);
    expect(readFileSync(join(data, files[0] as string), "utf8")).toContain(`"id":"${id}"`);
    const health = await fetch(`${url}/api/agents/${id}/health`, {
      headers: { authorization: `Bearer ${identity.token}` },
    });
    expect(((await health.json()) as { status: string }).status).toBe("ok");
    const hosts = (await (
      await fetch(`${url}/hosts`, { headers: { authorization: `Bearer ${read}` } })
    ).json()) as {
      hosts: { agent_id: string | null }[];
    };
    expect(hosts.hosts[0]?.agent_id).toBe(String(id));

    const revoked = await run(bare(server, "agent", "revoke", String(id), "--data", data), {
      timeoutMs: 20_000,
    });
    expect(revoked.code).toBe(0);
    const refused = await agentRun("run", "--once");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("refused the token (401");
    expect(readdirSync(spool()).filter((name) => name.endsWith(ENTRY_SUFFIX))).toHaveLength(1);
  }, 120_000);
});
