// GET /openapi.json (the API's OpenAPI 3.1 document) and GET /docs (Swagger UI over it), for anyone: they
// say what the README says. Swagger UI is embedded in the executable and asks nothing of any other host:
// its validator badge is off (validatorUrl "none") and it loads only this server's files.
import { Hono } from "hono";
// As embedded files, not strings: read only when someone opens /docs (2 MB the server would otherwise hold).
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerJs from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import * as v from "valibot";
import type { AppEnv } from "../env.ts";
import { openApiDocument } from "../openapi/document.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>relevo API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// In a file of its own, so a Content-Security-Policy without inline scripts still lets the page run.
const INIT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: "none",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
`;

const STATIC = { tags: ["docs"] };

export function openApiRoutes(kit: RouteKit, whole: Hono<AppEnv>): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Built on first request, when every route is in place; the routes never change afterwards.
  let document: Promise<string> | null = null;
  app.route(
    "/",
    endpoint(
      kit,
      {
        method: "GET",
        path: "/openapi.json",
        role: null,
        doc: {
          ...STATIC,
          summary: "This document: OpenAPI 3.1 for every endpoint",
          responses: {
            200: { description: "The OpenAPI document", schema: v.object({ openapi: v.string() }) },
          },
        },
      },
      async (c) => {
        document ??= openApiDocument(whole, kit.options.version).then((doc) => JSON.stringify(doc));
        return c.body(await document, 200, { "content-type": "application/json; charset=utf-8" });
      },
    ),
  );
  const files: [string, string | { path: string }, string, string][] = [
    ["/docs", PAGE, "text/html; charset=utf-8", "Swagger UI over /openapi.json (embedded; no token needed)"],
    ["/docs/init.js", INIT, "text/javascript; charset=utf-8", "Swagger UI's start script"],
    ["/docs/swagger-ui.css", { path: swaggerCss }, "text/css; charset=utf-8", "Swagger UI's style sheet"],
    [
      "/docs/swagger-ui-bundle.js",
      { path: swaggerJs },
      "text/javascript; charset=utf-8",
      "Swagger UI itself",
    ],
  ];
  for (const [path, content, type, summary] of files) {
    const media = type.split(";")[0] as string;
    app.route(
      "/",
      endpoint(
        kit,
        {
          method: "GET",
          path,
          role: null,
          doc: { ...STATIC, summary, responses: { 200: { description: summary, media } } },
        },
        async (c) => {
          const body = typeof content === "string" ? content : await Bun.file(content.path).arrayBuffer();
          return c.body(body, 200, { "content-type": type, "cache-control": "public, max-age=3600" });
        },
      ),
    );
  }
  return app;
}
