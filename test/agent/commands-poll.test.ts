// The agent's long-poll against the real server on 127.0.0.1: a collect command is acted on and its
// outcome posted; when the server is killed mid-poll (SIGKILL: the connection just dies) the poll
// reconnects with backoff to the restarted server and hears the next command.
import { afterAll, describe, expect, test } from "bun:test";
import { pollCommands } from "../../src/agent/commands-poll.ts";
import type { CycleResult } from "../../src/agent/loop.ts";
import { freePort, type RunningServer, startServer, tempDir } from "../helpers/server.ts";

const quiet = { info() {}, warn() {}, error() {}, debug() {}, success() {} } as never;

describe("the command long-poll", () => {
  const data = tempDir("relevo-poll-");
  const port = freePort();
  let server: RunningServer | undefined;
  const controller = new AbortController();
  let polling: Promise<void> | undefined;

  afterAll(async () => {
    controller.abort();
    await polling;
    await server?.stop();
  });

  test("acts on collect, and reconnects after the server was killed mid-poll", async () => {
    server = await startServer(["--port", String(port)], data);
    const registered = await fetch(`${server.url}/api/agents/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ hostname: "h1", os_type: "Linux", os_version: "6", agent_version: "1.0.0" }),
    });
    const { agent_id: id, token } = (await registered.json()) as { agent_id: number; token: string };
    const collected: number[] = [];
    polling = pollCommands(
      {
        base: new URL(`${server.url}/`),
        agentId: id,
        token,
        ca: undefined,
        log: quiet,
        random: () => 0,
        collectNow: async (): Promise<CycleResult> => {
          collected.push(Date.now());
          return { report: "delivered", reportId: `r${collected.length}`, status: 201 };
        },
        update: async () => null,
      },
      controller.signal,
    );
    const outcome = async (commandId: number) => {
      for (let i = 0; i < 100; i++) {
        const agent = (await (await fetch(`${server?.url}/api/agents/${id}`)).json()) as {
          commands: { id: number; state: string; message: string }[];
        };
        const found = agent.commands.find((c) => c.id === commandId);
        if (found?.state === "done") return found;
        await Bun.sleep(100);
      }
      throw new Error(`no outcome for command ${commandId}`);
    };
    const ask = async () => {
      const answer = await fetch(`${server?.url}/api/agents/${id}/collect`, { method: "POST" });
      expect(answer.status).toBe(202);
      return ((await answer.json()) as { command: { id: number } }).command.id;
    };
    await Bun.sleep(300);
    const first = await outcome(await ask());
    expect(first.message).toBe("report r1 delivered");
    await server.stop("SIGKILL");
    server = await startServer(["--port", String(port)], data);
    const asked = Date.now();
    await outcome(await ask());
    expect(collected).toHaveLength(2);
    // Backoff starts at 1 s (half of it random; random() is 0 here).
    expect((collected[1] ?? 0) - asked).toBeLessThan(5_000);
  }, 30_000);
});
