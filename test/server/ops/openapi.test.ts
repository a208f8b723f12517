// /openapi.json lists every route the app serves (from the one declaration in _endpoint.ts), validates
// against the OpenAPI 3.1 schema, and shows relevo's own error body; /docs is Swagger UI from this server.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { AgentStore } from "../../../src/server/agents/agent-store.ts";
import { createApp } from "../../../src/server/app.ts";
import { type OpenLogs, openLogs } from "../../../src/server/logs/open.ts";
import { ServerMetrics } from "../../../src/server/metrics/server-metrics.ts";
import { type FileStore, openFileStore } from "../../../src/server/store/file-store.ts";
import { tempDir } from "../../helpers/server.ts";

let store: FileStore;
let logs: OpenLogs;
let app: ReturnType<typeof createApp>;
let doc: {
  openapi: string;
  paths: Record<
    string,
    Record<string, { security?: unknown[]; responses: Record<string, unknown>; description?: string }>
  >;
};

beforeAll(async () => {
  const dir = tempDir();
  store = await openFileStore({ dir });
  logs = openLogs(dir, { retentionDays: 0, maxBytes: 0, clock: () => new Date() });
  const metrics = new ServerMetrics("test");
  // Every optional part on, so every route the server can have is in the app.
  app = createApp({
    store,
    version: "test",
    logs: logs.store,
    agents: new AgentStore(logs.db, logs.writer, 900_000),
    ops: { metrics, metricsPublic: false, alerts: null },
  });
  const res = await app.request("/openapi.json", {}, { ip: "127.0.0.1" });
  expect(res.status).toBe(200);
  doc = (await res.json()) as typeof doc;
});
afterAll(async () => {
  await logs.close();
  await store.close();
});

/** Hono's `:name` (with an optional `{regex}`) is OpenAPI's `{name}`. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}");

test("every method and path the app routes is an operation of the document", () => {
  const served = new Set<string>();
  for (const route of app.routes) {
    if (route.method === "ALL" || route.path.includes("*")) continue;
    served.add(`${route.method.toLowerCase()} ${openApiPath(route.path)}`);
  }
  expect(served.size).toBeGreaterThan(10);
  const documented = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths))
    for (const method of Object.keys(item)) documented.add(`${method} ${path}`);
  const missing = [...served].filter((op) => !documented.has(op));
  expect(missing).toEqual([]);
  for (const op of [
    "post /upload",
    "get /query",
    "get /metrics",
    "get /openapi.json",
    "get /docs",
    "post /logs",
  ]) {
    expect(documented.has(op)).toBe(true);
  }
});

test("a route added later with endpoint() is in the document with nothing else to do", async () => {
  const { endpoint } = await import("../../../src/server/routes/_endpoint.ts");
  const { Hono } = await import("hono");
  const { openApiDocument } = await import("../../../src/server/openapi/document.ts");
  const kit = {
    options: {} as never,
    startedAt: 0,
    guard: () => async (_c: unknown, next: () => Promise<void>) => next(),
  };
  const extra = new Hono();
  extra.route(
    "/",
    endpoint(kit as never, { method: "POST", path: "/api/things/:id", role: "read" }, (c) => c.json({})),
  );
  const built = (await openApiDocument(extra as never, "x")) as typeof doc;
  const op = built.paths["/api/things/{id}"]?.post;
  expect(op?.security).toEqual([{ bearer: [] }, { token: [] }]);
  expect(Object.keys(op?.responses ?? {})).toEqual(expect.arrayContaining(["401", "403"]));
});

test("the document is valid OpenAPI 3.1", async () => {
  expect(doc.openapi).toBe("3.1.0");
  const result = await new Validator().validate(doc as never);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
});

test("a broken document is refused by the same validator (the check can fail)", async () => {
  const broken = structuredClone(doc) as Record<string, unknown>;
  (broken.paths as Record<string, unknown>)["/upload"] = { post: { responses: { 201: "not an object" } } };
  const result = await new Validator().validate(broken as never);
  expect(result.valid).toBe(false);
});

test("security comes from each route's role; public routes need none", () => {
  expect(doc.paths["/query"]?.get?.security).toEqual([{ bearer: [] }, { token: [] }]);
  expect(doc.paths["/health"]?.get?.security).toEqual([]);
  expect(doc.paths["/docs"]?.get?.security).toEqual([]);
  expect(doc.paths["/metrics"]?.get?.description).toContain("read or metrics");
});

test("errors are relevo's own body, and no validator 400 of hono-openapi's appears", () => {
  const text = JSON.stringify(doc);
  expect(text).not.toContain("Bad Request");
  const upload = doc.paths["/upload"]?.post?.responses ?? {};
  for (const code of ["401", "413", "415", "422"]) {
    expect(JSON.stringify(upload[code])).toContain("#/components/schemas/Error");
  }
});

test("the upload body is the report schema; check rules are said in words", () => {
  const upload = doc.paths["/upload"]?.post as unknown as {
    requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
    description: string;
  };
  const schema = upload.requestBody.content["application/json"]?.schema;
  expect(Object.keys(schema?.properties ?? {})).toEqual(
    expect.arrayContaining(["report_id", "host", "cpu", "disks"]),
  );
  expect(upload.description).toContain("gzip");
});

test("/docs is Swagger UI from this server: no other host, no validator, no token", async () => {
  const page = await app.request("/docs", {}, { ip: "127.0.0.1" });
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('src="/docs/swagger-ui-bundle.js"');
  expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  const init = await (await app.request("/docs/init.js", {}, { ip: "127.0.0.1" })).text();
  expect(init).toContain('validatorUrl: "none"');
  expect(init).toContain('url: "/openapi.json"');
  const bundle = await app.request("/docs/swagger-ui-bundle.js", {}, { ip: "127.0.0.1" });
  expect(bundle.headers.get("content-type")).toContain("javascript");
  expect((await bundle.text()).length).toBeGreaterThan(1_000_000);
});
