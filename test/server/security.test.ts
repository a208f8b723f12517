import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../../src/server/app.ts";
import type { AuthMode } from "../../src/server/auth/guard.ts";
import { createToken, revokeToken, TokenRegistry } from "../../src/server/auth/tokens.ts";
import { type FileStore, openFileStore } from "../../src/server/store/file-store.ts";
import { jsonOf } from "../helpers/json.ts";
import { sampleReport } from "../helpers/report.ts";
import { BUN, REPO, startServer, tempDir } from "../helpers/server.ts";
import { makeTestCertificates, openssl } from "../helpers/tls.ts";

const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function setup(
  mode: AuthMode = "required",
  extra: Parameters<typeof createApp>[0] extends infer O ? Partial<O> : never = {},
) {
  const dir = tempDir();
  const store = await openFileStore({ dir });
  stores.push(store);
  const registry = new TokenRegistry(dir, 0);
  const app = createApp({ store, version: "test", auth: { mode, registry }, ...extra });
  const call = (path: string, init: RequestInit = {}, ip = "192.0.2.1") => app.request(path, init, { ip });
  const upload = (headers: Record<string, string> = {}, ip?: string) =>
    call(
      "/upload",
      {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(sampleReport()),
      },
      ip,
    );
  return { dir, store, registry, app, call, upload };
}

describe("tokens and roles", () => {
  test("a token is stored only as a hash, in a 0600 file", async () => {
    const { dir } = await setup();
    const { token } = createToken(dir, "ingest", "agents", new Date());
    const file = await Bun.file(join(dir, "tokens.json")).text();
    expect(file).not.toContain(token);
    expect(token.length).toBeGreaterThanOrEqual(4 + 43); // 256 random bits in base64url
    if (process.platform !== "win32") expect(statSync(join(dir, "tokens.json")).mode & 0o777).toBe(0o600);
  });

  test("uploads need an ingest token; Bearer and Token both work", async () => {
    const { dir, upload } = await setup();
    const { token } = createToken(dir, "ingest", "agents", new Date());
    const missing = await upload();
    expect(missing.status).toBe(401);
    expect((await jsonOf(missing)).error.code).toBe("unauthorized");
    expect((await upload({ authorization: "Bearer rlv_wrong" })).status).toBe(401);
    expect((await upload({ authorization: `Bearer ${token}` })).status).toBe(201);
    expect((await upload({ authorization: `Token ${token}` })).status).toBe(201);
  });

  test("a token without the role gets 403", async () => {
    const { dir, upload, call } = await setup();
    const read = createToken(dir, "read", "ops", new Date()).token;
    const ingest = createToken(dir, "ingest", "agents", new Date()).token;
    const res = await upload({ authorization: `Bearer ${read}` });
    expect(res.status).toBe(403);
    expect((await jsonOf(res)).error.code).toBe("forbidden");
    expect((await call("/hosts", { headers: { authorization: `Bearer ${ingest}` } })).status).toBe(403);
    expect((await call("/hosts", { headers: { authorization: `Bearer ${read}` } })).status).toBe(200);
    expect((await call("/health")).status).toBe(200);
  });

  test("revocation takes effect without a restart", async () => {
    const { dir, upload } = await setup();
    const { token } = createToken(dir, "ingest", "agents", new Date());
    expect((await upload({ authorization: `Bearer ${token}` })).status).toBe(201);
    revokeToken(dir, "agents");
    expect((await upload({ authorization: `Bearer ${token}` })).status).toBe(401);
  });

  test("on loopback with no token the server is open; off loopback it never is", async () => {
    expect((await (await setup("if-tokens")).upload()).status).toBe(201);
    expect((await (await setup("required")).upload()).status).toBe(401);
  });
});

describe("abuse limits", () => {
  test("a source over its rate gets 429 with Retry-After; others are unaffected", async () => {
    const { upload } = await setup("off", { rateLimit: 2 });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await upload({}, "198.51.100.7")).status);
    expect(statuses.slice(0, 4)).toEqual([201, 201, 201, 201]);
    const limited = await upload({}, "198.51.100.7");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await upload({}, "198.51.100.8")).status).toBe(201);
  });

  test("a body that arrives too slowly is cut off with 408", async () => {
    const { call } = await setup("off", { bodyTimeoutMs: 150 });
    const body = new ReadableStream({ start() {} }); // never sends a byte
    const res = await call("/upload", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(408);
    expect((await jsonOf(res)).error.code).toBe("body_timeout");
  });

  test("uploads beyond the cap get 503 busy while others are in progress", async () => {
    const { call, upload } = await setup("off", { maxUploads: 2, bodyTimeoutMs: 2000 });
    const stalled = [0, 1].map(() =>
      call("/upload", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: new ReadableStream({ start() {} }),
      }),
    );
    await Bun.sleep(20);
    const busy = await upload();
    expect(busy.status).toBe(503);
    expect((await jsonOf(busy)).error.code).toBe("busy");
    for (const res of await Promise.all(stalled)) expect(res.status).toBe(408);
    expect((await upload()).status).toBe(201);
  });
});

describe("limits are fair between sources (issue 9, item 9)", () => {
  const stalledUpload = (
    call: (path: string, init: RequestInit, ip?: string) => Response | Promise<Response>,
    ip: string,
  ): Promise<Response> =>
    Promise.resolve(
      call(
        "/upload",
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: new ReadableStream({ start() {} }), // trickles nothing
        },
        ip,
      ),
    );

  test("260 stalled uploads from one address leave the other 224 slots to everyone else", async () => {
    const { call, upload } = await setup("off", { bodyTimeoutMs: 1500 });
    const stalled = Array.from({ length: 260 }, () => stalledUpload(call, "198.51.100.66"));
    await Bun.sleep(50);
    const others = [];
    for (let i = 0; i < 33; i++) others.push((await upload({}, `192.0.2.${100 + i}`)).status);
    expect(others).toEqual(new Array(33).fill(201));
    const statuses = (await Promise.all(stalled)).map((res) => res.status);
    expect(statuses.filter((s) => s === 408)).toHaveLength(32);
    expect(statuses.filter((s) => s === 503)).toHaveLength(228);
  });

  test("the per-source cap can be set; the overall cap still holds", async () => {
    const { call, upload } = await setup("off", {
      maxUploads: 6,
      maxUploadsPerSource: 2,
      bodyTimeoutMs: 1000,
    });
    const first = [0, 1, 2].map(() => stalledUpload(call, "198.51.100.1"));
    await Bun.sleep(20);
    const third = await upload({}, "198.51.100.1");
    expect(third.status).toBe(503);
    expect((await jsonOf(third)).error.message).toContain("from this address");
    const more = [0, 1, 2, 3].map((i) => stalledUpload(call, `198.51.100.${10 + (i >> 1)}`));
    await Bun.sleep(20);
    const full = await upload({}, "198.51.100.99");
    expect(full.status).toBe(503);
    expect((await jsonOf(full)).error.message).toContain("more than 6 uploads in progress;");
    await Promise.all([...first, ...more]);
    expect((await upload({}, "198.51.100.99")).status).toBe(201);
  });

  test("one shared token: two hosts' 415s cost nothing, a third host's uploads all go through", async () => {
    const { dir, call, upload } = await setup("required", { rateLimit: 5 });
    const { token } = createToken(dir, "ingest", "agents", new Date());
    const auth = { authorization: `Bearer ${token}` };
    const cheap = (ip: string) =>
      call("/upload", { method: "POST", headers: { ...auth, "content-type": "text/plain" }, body: "x" }, ip);
    const refused = [];
    for (let i = 0; i < 51; i++) {
      refused.push((await cheap("198.51.100.1")).status, (await cheap("198.51.100.2")).status);
    }
    expect(new Set(refused)).toEqual(new Set([415]));
    const third = [];
    for (let i = 0; i < 10; i++) third.push((await upload(auth, "198.51.100.3")).status);
    expect(third).toEqual(new Array(10).fill(201));
    // The 415s did not spend the senders' own allowance either.
    expect((await upload(auth, "198.51.100.1")).status).toBe(201);
  });

  test("a bad token is still charged, so tokens cannot be guessed at speed", async () => {
    const { dir, upload } = await setup("required", { rateLimit: 2 });
    createToken(dir, "ingest", "agents", new Date());
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await upload({ authorization: "Bearer rlv_guess" })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
  });

  test("a token's rate is counted per source address", async () => {
    const { dir, upload } = await setup("required", { rateLimit: 2 });
    const { token } = createToken(dir, "ingest", "agents", new Date());
    const auth = { authorization: `Bearer ${token}` };
    const a = [];
    for (let i = 0; i < 5; i++) a.push((await upload(auth, "198.51.100.1")).status);
    expect(a).toEqual([201, 201, 201, 201, 429]);
    expect((await upload(auth, "198.51.100.2")).status).toBe(201);
  });

  test("the rate limiter reads the injected clock", async () => {
    let now = Date.parse("2026-11-23T12:00:00Z");
    const { upload } = await setup("off", { rateLimit: 2, clock: () => new Date(now) });
    for (let i = 0; i < 4; i++) expect((await upload({}, "198.51.100.7")).status).toBe(201);
    expect((await upload({}, "198.51.100.7")).status).toBe(429);
    now += 1000; // two requests' worth
    expect((await upload({}, "198.51.100.7")).status).toBe(201);
    expect((await upload({}, "198.51.100.7")).status).toBe(201);
    expect((await upload({}, "198.51.100.7")).status).toBe(429);
  });
});

describe("the server process", () => {
  const servers: Array<{ stop: () => Promise<number> }> = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
  });

  test("refuses to listen off loopback without tokens, and says how to make one", async () => {
    const proc = Bun.spawn(
      [BUN, join(REPO, "src/server/cli.ts"), "--host", "0.0.0.0", "--port", "0", "--data", tempDir()],
      {
        stderr: "pipe",
      },
    );
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stderr).text()).toContain("relevo-server token create --role ingest");
  });

  test("token create prints the token on its last line and the server accepts it", async () => {
    const dir = tempDir();
    const proc = Bun.spawn(
      [BUN, join(REPO, "src/server/cli.ts"), "token", "create", "--role", "ingest", "--data", dir],
      {
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    expect(await proc.exited).toBe(0);
    const token = (await new Response(proc.stdout).text()).trim().split("\n").at(-1) as string;
    const server = await startServer([], dir);
    servers.push(server);
    const post = (auth?: string) =>
      fetch(`${server.url}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify(sampleReport()),
      });
    expect((await post()).status).toBe(401);
    expect((await post(`Bearer ${token}`)).status).toBe(201);
  });

  test.skipIf(!openssl)(
    "serves HTTPS with --tls-cert/--tls-key, verifiable with the private CA only",
    async () => {
      const certs = await makeTestCertificates();
      const server = await startServer(["--tls-cert", certs.certPath, "--tls-key", certs.keyPath]);
      servers.push(server);
      const url = `https://127.0.0.1:${server.port}/health`;
      const ok = await fetch(url, { tls: { ca: certs.ca } });
      expect(ok.status).toBe(200);
      expect(fetch(url)).rejects.toThrow();
    },
  );

  test("a flood of bad requests from one source does not stop good uploads", async () => {
    // Behind a proxy a token is always needed.
    const dir = tempDir();
    const { token } = createToken(dir, "ingest", "agents", new Date());
    const server = await startServer(["--trust-proxy", "127.0.0.1", "--rate-limit", "50"], dir);
    servers.push(server);
    let flooding = true;
    let flooded = 0;
    const flood = Array.from({ length: 12 }, async () => {
      while (flooding) {
        await fetch(`${server.url}/upload`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.66" },
          body: "{garbage",
        }).then(
          (r) => r.arrayBuffer(),
          () => {},
        );
        flooded++;
      }
    });
    const good: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${server.url}/upload`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-forwarded-for": `192.0.2.${i + 1}`,
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify(sampleReport()),
      });
      good.push(res.status);
    }
    flooding = false;
    await Promise.all(flood);
    expect(good.every((s) => s === 201)).toBe(true);
    expect(flooded).toBeGreaterThan(20);
  });
});

describe("time comes from the injected clock", () => {
  test("the token registry rereads the token file when the clock says the recheck is due", async () => {
    const dir = tempDir();
    let now = new Date("2026-11-23T12:00:00Z");
    const registry = new TokenRegistry(dir, 250, () => now);
    createToken(dir, "read", "ops", new Date());
    expect(registry.count).toBe(0);
    now = new Date(now.getTime() + 300);
    expect(registry.count).toBe(1);
  });

  // A token's rate is counted per source address (one host's burst does not cap the fleet sharing it).
  test("a token's rate limit refills as the clock moves, not as the wall clock does", async () => {
    let now = new Date("2026-11-23T12:00:00Z");
    const { dir, upload } = await setup("required", { rateLimit: 1, clock: () => now });
    const { token } = createToken(dir, "ingest", "agents", new Date());
    const auth = { authorization: `Bearer ${token}` };
    const statuses = [];
    for (let i = 1; i <= 3; i++) statuses.push((await upload(auth, "198.51.100.1")).status);
    expect(statuses).toEqual([201, 201, 429]);
    // Another host with the same token is not held back by the first one's burst.
    expect((await upload(auth, "198.51.100.2")).status).toBe(201);
    now = new Date(now.getTime() + 5_000);
    expect((await upload(auth, "198.51.100.1")).status).toBe(201);
  });
});
