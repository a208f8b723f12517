// One endpoint as a Hono sub-app: its method, path and role are declared once, here, by the route file that
// serves it. The sub-app answers its own 405 (with Allow), so adding a route touches only that route's file.
// The same declaration, with the route's optional `doc`, is what /openapi.json lists (see openapi/).
import { type Handler, Hono, type MiddlewareHandler } from "hono";
import type { Role } from "../auth/tokens.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http-error.ts";
import { describe, type RouteDoc } from "../openapi/route-doc.ts";
import type { ResolvedOptions } from "../options.ts";

export type { RouteDoc } from "../openapi/route-doc.ts";

interface Endpoint {
  method: "GET" | "POST";
  path: string;
  /** The token role needed (any of a list); null for an endpoint anyone may call (health). */
  role: Role | readonly Role[] | null;
  /** Summary, parameters and bodies for /openapi.json; path, method and security come from the above. */
  doc?: RouteDoc;
}

/** What every route is built from. */
export interface RouteKit {
  options: ResolvedOptions;
  /** Checks the token for `role` and charges its rate (see app.ts). */
  guard(role: Role | readonly Role[]): MiddlewareHandler<AppEnv>;
  /** Epoch milliseconds at which the app was built. */
  startedAt: number;
}

export function endpoint(
  kit: RouteKit,
  spec: Endpoint,
  handler: Handler<AppEnv>,
  middleware: MiddlewareHandler<AppEnv>[] = [],
): Hono<AppEnv> {
  return resource(kit, spec.path, [
    { method: spec.method, role: spec.role, handler, middleware, doc: spec.doc },
  ]);
}

/** A path served by several methods (GET and POST /logs), each with its own role; 405 for the rest. */
export function resource(
  kit: RouteKit,
  path: string,
  methods: {
    method: Endpoint["method"];
    role: Endpoint["role"];
    handler: Handler<AppEnv>;
    middleware?: MiddlewareHandler<AppEnv>[];
    doc?: RouteDoc;
  }[],
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const names = methods.map((one) => one.method);
  const allow = [...names, ...(names.includes("GET") ? ["HEAD"] : [])].sort().join(", ");
  for (const { method, role, handler, middleware = [], doc } of methods) {
    app.on(method, path, describe(method, path, role, doc));
    if (role) app.on(method, path, kit.guard(role));
    for (const step of middleware) app.on(method, path, step);
    app.on(method, path, handler);
  }
  app.all(path, (c) => {
    throw new ApiError(
      405,
      "method_not_allowed",
      `${c.req.method} is not allowed on ${path}; use ${names.join(" or ")}`,
      undefined,
      { allow },
    );
  });
  return app;
}
