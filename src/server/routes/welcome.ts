// GET /: the welcome and hint the seed's log service answered, as JSON, to anyone (like /health: it says
// nothing a caller could not learn from the README). The dashboard will answer browsers (Accept: text/html)
// with a page here; until then every Accept gets this JSON.
import type { Hono } from "hono";
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
    ...(kit.options.logs ? ["POST /logs", "GET /logs"] : []),
    ...(kit.options.software
      ? [
          "GET /api/hosts/{ip}/software",
          "GET /api/hosts/{ip}/services",
          "GET /api/software?name=&version_lt=",
          "GET /api/software/changes?since=",
        ]
      : []),
  ];
  const answer: WelcomeAnswer = {
    message: `relevo ${kit.options.version}: server inventory and central logs`,
    hint: kit.options.logs
      ? 'POST /logs with {"timestamp","service","severity","message"} (one entry or a list) and Authorization: Token <t>; GET /logs?service=&severity=&timestamp_start=&limit= with a read token'
      : "POST /upload with an ingest token; GET /query?ip=&date= with a read token",
    endpoints,
  };
  return endpoint(kit, { method: "GET", path: "/", role: null }, (c) => c.json(answer));
}
