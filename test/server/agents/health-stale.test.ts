// Health over time, with the app's clock in the test's hand: ok until three report intervals passed.
import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { AgentStore } from "../../../src/server/agents/agent-store.ts";
import { createApp } from "../../../src/server/app.ts";
import { GroupCommit } from "../../../src/server/db/group-commit.ts";
import { migrate } from "../../../src/server/db/migrations.ts";
import { MIGRATIONS } from "../../../src/server/db/schema.ts";
import { openLogs } from "../../../src/server/logs/open.ts";
import { openFileStore } from "../../../src/server/store/file-store.ts";
import { StoreUnavailableError } from "../../../src/server/store/types.ts";
import { jsonOf } from "../../helpers/json.ts";
import { tempDir } from "../../helpers/server.ts";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

test("status is ok, then stale once three intervals passed without a report, ok again after one", async () => {
  const dir = tempDir();
  let now = new Date("2026-12-01T10:00:00Z");
  const clock = () => now;
  const store = await openFileStore({ dir, clock });
  const logs = openLogs(dir, { retentionDays: 0, maxBytes: 0, clock });
  closers.push(async () => {
    await logs.close();
    await store.close();
  });
  const interval = 60;
  const agents = new AgentStore(logs.db, logs.writer, 3 * interval * 1000);
  const app = createApp({ store, version: "test", clock, agents, nextReportIn: interval });
  const env = { ip: "127.0.0.1" };
  const registered = await jsonOf(
    await app.request(
      "/api/agents/register",
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ hostname: "h1", os_type: "Linux", os_version: "6.1", agent_version: "0.1.0" }),
      },
      env,
    ),
  );
  const id = registered.agent_id as number;
  const health = async () => (await jsonOf(await app.request(`/api/agents/${id}/health`, {}, env))).status;
  expect(await health()).toBe("ok");
  now = new Date(now.getTime() + 3 * interval * 1000);
  expect(await health()).toBe("ok");
  now = new Date(now.getTime() + 1000);
  expect(await health()).toBe("stale");
  const stale = await jsonOf(await app.request("/api/agents?state=stale", {}, env));
  expect(stale.agents.map((a: { id: number }) => a.id)).toEqual([id]);
  const inventory = {
    agent_id: id,
    timestamp: now.toISOString(),
    hostname: "h1",
    hardware: {},
    software: { installed_software: [] },
    domain: { is_domain_joined: false },
  };
  const sent = await app.request(
    "/api/inventory",
    {
      method: "POST",
      headers: { "content-type": "application/json", "x-agent-id": String(id), "x-agent-version": "0.1.0" },
      body: JSON.stringify(inventory),
    },
    env,
  );
  expect(await jsonOf(sent)).toEqual({
    success: true,
    message: "Inventory received",
    next_report_in: interval,
  });
  expect(await health()).toBe("ok");
});

test("on a database that refuses writes, registration is a 503 error; noting last seen never fails a report", async () => {
  const db = new Database(":memory:");
  migrate(db, MIGRATIONS, new Date());
  const writer = new GroupCommit(db);
  const agents = new AgentStore(db, writer, 900_000);
  const now = new Date();
  const { id } = await agents.register(
    { hostname: "h", os_type: "Linux", os_version: "6", agent_version: "1.0.0" },
    "127.0.0.1",
    now,
  );
  db.run("PRAGMA query_only = ON");
  await expect(agents.touch(id, "127.0.0.2", "1.0.1", now)).resolves.toBeUndefined();
  expect(agents.get(id, now)?.last_ip).toBe("127.0.0.1");
  const again = agents.register(
    { hostname: "h", os_type: "Linux", os_version: "6", agent_version: "1.0.0" },
    "::1",
    now,
  );
  await expect(again).rejects.toBeInstanceOf(StoreUnavailableError);
  writer.close();
  db.close();
});
