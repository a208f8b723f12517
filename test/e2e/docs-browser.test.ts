// /docs rendered by Debian's Chromium (headless): Swagger UI draws the operations of /openapi.json, and
// every request the page makes goes to this server on 127.0.0.1. Chromium's net log records each request;
// the page's own are those in its network isolation key (Chromium's background traffic is not the page's,
// and the host resolver rules let it reach nothing but 127.0.0.1 anyway).
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, tempDir } from "../helpers/server.ts";

const chromium = Bun.which("chromium") ?? Bun.which("chromium-browser");
const root = process.getuid?.() === 0;

interface NetLog {
  constants: { logEventTypes: Record<string, number> };
  events: { type: number; params?: Record<string, string> }[];
}

test.skipIf(!chromium)(
  "Swagger UI renders the API from this server alone",
  async () => {
    const server = await startServer();
    const dir = tempDir("relevo-chromium-");
    try {
      const netLog = join(dir, "net.json");
      const proc = Bun.spawn(
        [
          chromium as string,
          "--headless",
          ...(root ? ["--no-sandbox"] : []),
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--no-first-run",
          "--disable-sync",
          "--disable-default-apps",
          `--user-data-dir=${join(dir, "profile")}`,
          `--log-net-log=${netLog}`,
          "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
          "--virtual-time-budget=15000",
          "--dump-dom",
          `${server.url}/docs`,
        ],
        { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      );
      const timer = setTimeout(() => proc.kill("SIGKILL"), 90_000);
      const [dom, , code] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ]);
      clearTimeout(timer);
      expect(code).toBe(0);
      // Rendered: one block per operation, from the document.
      for (const path of ["/upload", "/query", "/metrics", "/openapi.json"]) {
        expect(dom).toContain(`data-path="${path}"`);
      }
      const log = JSON.parse(readFileSync(netLog, "utf8")) as NetLog;
      const start = log.constants.logEventTypes.URL_REQUEST_START_JOB;
      const page = log.events
        .filter((e) => e.type === start && e.params?.url)
        .filter((e) => (e.params?.network_isolation_key ?? "").startsWith("http://127.0.0.1"))
        .map((e) => e.params?.url as string);
      expect(page).toEqual(expect.arrayContaining([`${server.url}/docs`, `${server.url}/openapi.json`]));
      expect(page.filter((url) => !url.startsWith(`${server.url}/`))).toEqual([]);
    } finally {
      await server.stop();
    }
  },
  120_000,
);
