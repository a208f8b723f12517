// A real Prometheus (Debian's package) on 127.0.0.1 scrapes a real relevo-server with a metrics token, and
// its query API answers up == 1 and a relevo metric. Both are direct children, stopped at the end.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startServer, tempDir } from "../helpers/server.ts";
import { makeToken } from "../helpers/token-cli.ts";

const prometheus = Bun.which("prometheus");

async function query(
  base: string,
  expr: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as {
    status: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return body.status === "success" ? body.data.result : [];
}

test.skipIf(!prometheus)(
  "Prometheus scrapes /metrics: up == 1 and relevo_hosts_known read back through its query API",
  async () => {
    const dir = tempDir();
    const token = await makeToken(dir, "metrics");
    const server = await startServer([], dir);
    const work = tempDir("relevo-prom-");
    const tokenFile = join(work, "token");
    writeFileSync(tokenFile, token, { mode: 0o600 });
    writeFileSync(
      join(work, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "scrape_configs:",
        "  - job_name: relevo",
        "    authorization:",
        `      credentials_file: ${tokenFile}`,
        "    static_configs:",
        `      - targets: ["127.0.0.1:${server.port}"]`,
        "",
      ].join("\n"),
    );
    const port = freePort();
    const prom = Bun.spawn(
      [
        prometheus as string,
        `--config.file=${join(work, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(work, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    const base = `http://127.0.0.1:${port}`;
    try {
      let up: string | undefined;
      let hosts: string | undefined;
      // A scrape counts itself only once answered: the series appears from the second scrape on.
      let scrapes: string | undefined;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (up !== "1" || hosts === undefined || scrapes === undefined)) {
        await Bun.sleep(500);
        try {
          up = (await query(base, 'up{job="relevo"}'))[0]?.value[1];
          hosts = (await query(base, "relevo_hosts_known"))[0]?.value[1];
          scrapes = (await query(base, 'relevo_http_requests_total{route="/metrics",status="200"}'))[0]
            ?.value[1];
        } catch {
          // Prometheus is still starting.
        }
      }
      expect(up).toBe("1");
      expect(hosts).toBe("0");
      expect(Number(scrapes)).toBeGreaterThan(0);
    } finally {
      prom.kill("SIGTERM");
      const timer = setTimeout(() => prom.kill("SIGKILL"), 10_000);
      await prom.exited;
      clearTimeout(timer);
      await server.stop();
    }
  },
  60_000,
);
