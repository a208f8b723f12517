// GET /metrics on the real server: who may read it, what promtool says of it, labels by route template.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sampleReport } from "../../helpers/report.ts";
import { type RunningServer, startServer, tempDir } from "../../helpers/server.ts";
import { makeToken } from "../../helpers/token-cli.ts";

const promtool = Bun.which("promtool");

async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([promtool as string, "check", "metrics"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  proc.stdin.write(text);
  await proc.stdin.end();
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: out + err };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

describe("with tokens", () => {
  let server: RunningServer;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    const dir = tempDir();
    for (const role of ["ingest", "read", "metrics"]) tokens[role] = await makeToken(dir, role);
    server = await startServer(["--metrics-per-host", "1", "--trust-proxy", "127.0.0.1"], dir);
    for (const [i, ip] of ["10.0.0.1", "10.0.0.2"].entries()) {
      const res = await fetch(`${server.url}/upload`, {
        method: "POST",
        headers: {
          ...auth(tokens.ingest as string),
          "content-type": "application/json",
          "x-forwarded-for": ip,
        },
        body: JSON.stringify(sampleReport({ report_id: `0190a4f2-0000-7000-8000-00000000000${i}` } as never)),
      });
      expect(res.status).toBe(201);
    }
    await fetch(`${server.url}/query?ip=10.9.9.9&date=2026-01-01`, { headers: auth(tokens.read as string) });
    await fetch(`${server.url}/no/such/path/${crypto.randomUUID()}`);
  });
  afterAll(async () => {
    await server?.stop();
  });

  test("a read or metrics token may scrape; none is 401, another role 403", async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: auth(tokens.ingest as string) })).status).toBe(
      403,
    );
    for (const role of ["read", "metrics"]) {
      const res = await fetch(`${server.url}/metrics`, { headers: auth(tokens[role] as string) });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    }
    // A metrics token reads nothing else.
    expect((await fetch(`${server.url}/hosts`, { headers: auth(tokens.metrics as string) })).status).toBe(
      403,
    );
  });

  test.skipIf(!promtool)("promtool check metrics accepts the exposition (exit 0)", async () => {
    const text = await (
      await fetch(`${server.url}/metrics`, { headers: auth(tokens.read as string) })
    ).text();
    const { code, output } = await promtoolCheck(text);
    expect(output).toBe("");
    expect(code).toBe(0);
  });

  test.skipIf(!promtool)("promtool refuses a broken exposition (the check can fail)", async () => {
    const { code } = await promtoolCheck("# TYPE relevo_x counter\nrelevo_x 1\n");
    expect(code).not.toBe(0);
  });

  test("requests are labelled by route template and status, never by raw URL", async () => {
    const text = await (
      await fetch(`${server.url}/metrics`, { headers: auth(tokens.read as string) })
    ).text();
    expect(text).toContain('relevo_http_requests_total{route="/upload",method="POST",status="201"} 2');
    expect(text).toContain('relevo_http_requests_total{route="/query",method="GET",status="404"} 1');
    expect(text).toContain('relevo_http_requests_total{route="unmatched",method="GET",status="404"} 1');
    expect(text).toContain('relevo_http_requests_total{route="/metrics",method="GET",status="401"}');
    expect(text).not.toContain("10.9.9.9");
    expect(text).not.toContain("/no/such/path");
    expect(text).toMatch(/^relevo_journal_fsync_duration_seconds_count [1-9]/m);
    expect(text).toMatch(/^relevo_journal_batch_reports_sum 2$/m);
    expect(text).toMatch(/^relevo_upload_duration_seconds_count 2$/m);
    expect(text).toMatch(/^relevo_store_files 2$/m);
    expect(text).toMatch(/^relevo_hosts_known 2$/m);
    expect(text).toMatch(/^relevo_log_entries 0$/m);
    expect(text).toMatch(/^process_resident_memory_bytes [1-9]\d+$/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^relevo_agents_by_version\{version="[^"]+"\} 2$/m);
  });

  test("--metrics-per-host caps the per-host series and counts the rest", async () => {
    const text = await (
      await fetch(`${server.url}/metrics`, { headers: auth(tokens.read as string) })
    ).text();
    const hostLines = text.split("\n").filter((line) => line.startsWith("relevo_host_cpu_load_percent{"));
    expect(hostLines.length).toBe(1);
    expect(text).toMatch(/^relevo_metrics_hosts_omitted 1$/m);
    expect(hostLines[0]).toContain('ip="10.0.0.1"');
  });
});

test("--metrics-public opens /metrics alone; without --metrics-per-host there are no per-host series", async () => {
  const dir = tempDir();
  const read = await makeToken(dir, "read");
  const server = await startServer(["--metrics-public"], dir);
  try {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain("relevo_host_");
    expect((await fetch(`${server.url}/hosts`)).status).toBe(401);
    expect((await fetch(`${server.url}/hosts`, { headers: auth(read) })).status).toBe(200);
  } finally {
    await server.stop();
  }
});
