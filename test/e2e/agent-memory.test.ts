// The compiled agent gives its code pages back after each report and keeps running on them: several
// reports in a row, each a valid one, and between them less of the executable mapped than while reporting.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BUILD_TIMEOUT_MS, executables, isolate, tempDir } from "./_run.ts";

const target = process.arch === "arm64" ? "linux-arm64" : "linux-x64";

describe.skipIf(process.platform !== "linux")("the compiled agent's memory between reports", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test(
    "delivers report after report with its code pages given back in between",
    async () => {
      const built = await executables([target], ["agent"]);
      const binary = built[`agent-${target}`]?.path ?? "";
      const agentPath = Object.values(isolate([binary]))[0] ?? "";
      dirs.push(join(agentPath, ".."));
      const bodies: number[] = [];
      const server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        async fetch(request) {
          const body = Bun.gunzipSync(new Uint8Array(await request.arrayBuffer()));
          const report = JSON.parse(new TextDecoder().decode(body));
          bodies.push(report.processes.total);
          return Response.json({ ok: true, duplicate: false, next_report_in: 1 }, { status: 201 });
        },
      });
      const spool = tempDir("relevo-e2e-spool-");
      dirs.push(spool);
      const agent = Bun.spawn(
        [agentPath, "run", "--url", `http://127.0.0.1:${server.port}`, "--interval", "1", "--spool", spool],
        { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
      );
      const mappedKb = () =>
        Number(/RssFile:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, "utf8"))?.[1] ?? 0);
      let peak = 0;
      let between = Number.POSITIVE_INFINITY;
      try {
        const until = Date.now() + 30_000;
        while (bodies.length < 4 && Date.now() < until) {
          await Bun.sleep(100);
          const kb = mappedKb();
          peak = Math.max(peak, kb);
          if (bodies.length >= 2) between = Math.min(between, kb);
        }
      } finally {
        agent.kill("SIGTERM");
        await agent.exited;
        server.stop(true);
      }
      expect(bodies.length).toBeGreaterThanOrEqual(4);
      expect(bodies.every((total) => total > 0)).toBe(true);
      expect(agent.exitCode).toBe(0);
      // Some 20 MB of code pages go between reports (see README, Performance); 5 MB is far from noise.
      expect(peak - between).toBeGreaterThan(5 * 1024);
    },
    BUILD_TIMEOUT_MS + 60_000,
  );
});
