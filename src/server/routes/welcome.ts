// GET /: the welcome and hint the seed's log service answered, as JSON, to anyone (like /health: it says
// nothing a caller could not learn from the README). A browser (Accept: text/html first) gets the
// dashboard's page shell instead; it carries no data. The dashboard reads `endpoints` to know which of its
// pages have a backend here.
import type { Hono } from "hono";
import { dashboardBundle } from "../dashboard/bundle.ts";
import { assetResponse, wantsPage } from "../dashboard/respond.ts";
import type { AppEnv } from "../env.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

export interface WelcomeAnswer {
  message: string;
  hint: string;
  endpoints: string[];
}

export function welcomeRoute(kit: RouteKit): Hono<AppEnv> {
  const endpoints = [
    "POST /upload",
    "GET /query?ip=&date=",
    "GET /files",
    "GET /hosts",
    "GET /health",
    "GET /api/hosts/{ip}/series?date=&fields=",
    ...(kit.options.logs ? ["POST /logs", "GET /logs"] : []),
    ...(kit.options.software
      ? [
          "GET /api/hosts/{ip}/software",
          "GET /api/hosts/{ip}/services",
          "GET /api/software?name=&version_lt=",
          "GET /api/software/changes?since=",
        ]
      : []),
    ...(kit.options.agents
      ? [
          "GET /api/agents",
          "POST /api/agents/{id}/collect",
          "POST /api/agents/{id}/update",
          "GET /api/updates/check",
        ]
      : []),
    ...(kit.options.ops?.metrics ? ["GET /metrics"] : []),
    ...(kit.options.ops?.alerts ? ["GET /api/alerts"] : []),
    "GET /openapi.json",
    "GET /docs",
  ];
  const answer: WelcomeAnswer = {
    message: `relevo ${kit.options.version}: server inventory and central logs`,
    hint: kit.options.logs
      ? 'POST /logs with {"timestamp","service","severity","message"} (one entry or a list) and Authorization: Token <t>; GET /logs?service=&severity=&timestamp_start=&limit= with a read token'
      : "POST /upload with an ingest token; GET /query?ip=&date= with a read token",
    endpoints,
  };
  return endpoint(kit, { method: "GET", path: "/", role: null }, async (c) => {
    if (!wantsPage(c.req.raw)) return c.json(answer, 200, { vary: "Accept" });
    return assetResponse(c.req.raw, (await dashboardBundle()).index, { immutable: false, vary: "Accept" });
  });
}
