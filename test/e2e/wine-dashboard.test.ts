// The Windows server executable under Wine serves the embedded dashboard: the page shell to a browser,
// its scripts and styles compressed with ETags (304 when the client has them), the JSON welcome to curl.
// Its own Wine prefix, so this file runs beside wine.test.ts without sharing a wineserver.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BUILD_TIMEOUT_MS,
  type CompiledServer,
  executables,
  isolate,
  REPO,
  run,
  startServer,
  tempDir,
} from "./_run.ts";

const setupScript = join(REPO, "test", "e2e", "wine", "setup-prefix.sh");
const wine = Bun.which("wine") ?? Bun.which("wine64");
const skipWhy =
  process.platform !== "linux" || process.arch !== "x64"
    ? `not on Linux x64 (${process.platform}-${process.arch})`
    : !wine
      ? "wine is not installed (apt-get install -y wine64 wine)"
      : !existsSync(setupScript)
        ? `${setupScript} is missing`
        : "";
if (skipWhy) console.warn(`e2e: skipping the Windows dashboard under Wine: ${skipWhy}`);

const prefix = join(tmpdir(), `relevo-wine-${process.getuid?.() ?? 0}-dashboard`);
const env = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: "-all", WINEARCH: "win64" } as Record<
  string,
  string
>;

describe.skipIf(Boolean(skipWhy))("the Windows server under Wine serves the dashboard", () => {
  let server: CompiledServer | undefined;

  beforeAll(async () => {
    const built = await executables(["windows-x64"], ["server"]);
    const exe = isolate([built["server-windows-x64"]?.path ?? ""])["relevo-server-windows-x64.exe"] ?? "";
    const setup = await run(["bash", setupScript, prefix], { env, timeoutMs: 120_000 });
    if (setup.code !== 0) throw new Error(`wine prefix setup failed:\n${setup.stderr}${setup.stdout}`);
    server = await startServer(
      [wine as string, exe, "serve", "--port", "0", "--data", tempDir("relevo-wine-ui-")],
      tmpdir(),
      env,
    );
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await server?.stop();
    await run(["wineserver", "-k"], { env, timeoutMs: 15_000 }).catch(() => undefined);
  });

  test("page shell, compressed assets with ETags and 304s, JSON for curl", async () => {
    const url = server?.url as string;
    const page = await fetch(`${url}/`, { headers: { accept: "text/html", "accept-encoding": "gzip" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain('<div id="app">');
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+\.(?:js|css))"/g)].map((m) => m[1] as string);
    expect(assets).toHaveLength(2);
    for (const path of assets) {
      // fetch() asks for gzip and unpacks it; the header says what came over the wire.
      const res = await fetch(`${url}${path}`, { headers: { "accept-encoding": "gzip" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-encoding")).toBe("gzip");
      expect(res.headers.get("cache-control")).toContain("immutable");
      expect((await res.text()).length).toBeGreaterThan(1000);
      const etag = res.headers.get("etag") as string;
      const again = await fetch(`${url}${path}`, {
        headers: { "accept-encoding": "gzip", "if-none-match": etag },
      });
      expect(again.status).toBe(304);
    }
    const welcome = (await (await fetch(`${url}/`)).json()) as { endpoints: string[] };
    expect(welcome.endpoints).toContain("GET /hosts");
  }, 60_000);
});
