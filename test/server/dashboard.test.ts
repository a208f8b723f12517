// The dashboard's files as the app serves them (bundled from source here; the compiled server is checked in
// test/browser): GET / is the page for browsers and JSON for everyone else, every file compressed, with an
// ETag that answers 304, cached forever when its name carries its hash, and no data in any of them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { createApp } from "../../src/server/app.ts";
import { type FileStore, openFileStore } from "../../src/server/store/file-store.ts";
import { tempDir } from "../helpers/server.ts";

let store: FileStore;
let app: ReturnType<typeof createApp>;
beforeAll(async () => {
  store = await openFileStore({ dir: tempDir() });
  app = createApp({ store, version: "test" });
});
afterAll(async () => {
  await store.close();
});

const BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const get = (path: string, headers: Record<string, string> = {}) =>
  app.request(path, { headers }, { ip: "127.0.0.1" });

async function page() {
  const res = await get("/", { accept: BROWSER });
  const html = await res.text();
  const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+\.(?:js|css))"/g)].map((m) => m[1] as string);
  return { res, html, assets };
}

describe("GET /", () => {
  test("a browser gets the page shell, which carries no data and loads only this origin", async () => {
    const { res, html, assets } = await page();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("vary")).toBe("Accept, Accept-Encoding");
    expect(res.headers.get("content-security-policy")).toContain("connect-src 'self'");
    expect(html).toContain('<div id="app">');
    expect(html).not.toMatch(/https?:\/\//);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(assets.some((a) => a.endsWith(".css"))).toBe(true);
  });

  test("JSON clients (curl's */*, application/json, no Accept) still get the welcome", async () => {
    for (const accept of ["*/*", "application/json", "application/json, text/html", undefined]) {
      const res = await get("/", accept ? { accept } : {});
      expect(res.headers.get("content-type")).toContain("application/json");
      const body = (await res.json()) as { endpoints: string[] };
      expect(body.endpoints).toContain("GET /api/hosts/{ip}/series?date=&fields=");
    }
  });
});

describe("the scripts and styles", () => {
  test("are compressed (brotli, else gzip), cached forever, and answer 304 to their ETag", async () => {
    const { assets } = await page();
    for (const path of assets) {
      const plain = await get(path);
      expect(plain.status).toBe(200);
      expect(plain.headers.get("content-encoding")).toBeNull();
      expect(plain.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      const body = new Uint8Array(await plain.arrayBuffer());
      const gz = await get(path, { "accept-encoding": "gzip" });
      expect(gz.headers.get("content-encoding")).toBe("gzip");
      const packed = new Uint8Array(await gz.arrayBuffer());
      expect(packed.length).toBeLessThan(body.length / 2);
      expect(new Uint8Array(gunzipSync(packed))).toEqual(body);
      const br = await get(path, { "accept-encoding": "gzip, deflate, br" });
      expect(br.headers.get("content-encoding")).toBe("br");
      const etag = br.headers.get("etag") as string;
      expect(etag).toMatch(/^"[\w-]+-br"$/);
      const again = await get(path, { "accept-encoding": "gzip, br", "if-none-match": etag });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe("");
      // The gzip form's tag is not the brotli form's.
      expect((await get(path, { "accept-encoding": "gzip", "if-none-match": etag })).status).toBe(200);
    }
  });

  test("a name that is no asset is the JSON 404; the script names no other origin", async () => {
    const res = await get("/chunk-doesnotexist.js");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
    const { assets } = await page();
    const script = await (await get(assets.find((a) => a.endsWith(".js")) as string)).text();
    // Only the W3C namespaces (SVG/XLink, which are names, not requests) may look like an address.
    expect(
      [...script.matchAll(/https?:\/\/[^\s"'`)]+/g)]
        .map((m) => m[0])
        .filter((u) => !u.startsWith("http://www.w3.org/")),
    ).toEqual([]);
  });
});
