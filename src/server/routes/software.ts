// The fleet's software and services, for `read` tokens: a host's latest lists, which hosts have a package
// (optionally older than a version), and the installs, upgrades and removals seen since a time. Every query
// parameter is checked; an unknown, repeated or malformed one is a 400 that names it.
import type { Context } from "hono";
import { Hono } from "hono";
import type { SoftwareChangesAnswer, SoftwareSearchAnswer } from "../../shared/software.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http-error.ts";
import { parseIpParam } from "../ip.ts";
import type { SoftwareLists } from "../software/software-store.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

const MAX_TEXT = 256;
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 10_000;

function bad(name: string, message: string): ApiError {
  return new ApiError(400, "bad_parameter", `${name}: ${message}`, [{ path: name, message }]);
}

/** The query's parameters, each at most once, none but `allowed`. */
function params(c: Context<AppEnv>, allowed: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const [name, values] of Object.entries(c.req.queries())) {
    if (!allowed.includes(name)) {
      throw bad(
        name,
        allowed.length
          ? `unknown parameter (this endpoint takes ${allowed.join(", ")})`
          : "this endpoint takes no parameters",
      );
    }
    if (values.length !== 1) throw bad(name, "given more than once");
    found.set(name, values[0] as string);
  }
  return found;
}

function text(name: string, value: string | undefined, required: boolean): string | undefined {
  if (value === undefined) {
    if (required) throw bad(name, "is required");
    return undefined;
  }
  if (!value.trim() || value.length > MAX_TEXT) throw bad(name, `must be 1 to ${MAX_TEXT} characters`);
  return value;
}

function whole(name: string, value: string | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,15}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw bad(name, `must be a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

function hostIp(c: Context<AppEnv>): string {
  const ip = parseIpParam(c.req.param("ip") ?? "");
  if (!ip) throw bad("ip", "the path's ip is not an IPv4 or IPv6 address");
  return ip;
}

export function softwareRoutes(kit: RouteKit, software: SoftwareLists): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.route(
    "/",
    endpoint(kit, { method: "GET", path: "/api/hosts/:ip/software", role: "read" }, async (c) => {
      params(c, []);
      const ip = hostIp(c);
      const answer = await software.hostSoftware(ip);
      if (!answer) throw new ApiError(404, "not_found", `no software list stored for ${ip}`);
      return c.json(answer);
    }),
  );

  app.route(
    "/",
    endpoint(kit, { method: "GET", path: "/api/hosts/:ip/services", role: "read" }, async (c) => {
      params(c, []);
      const ip = hostIp(c);
      const answer = await software.hostServices(ip);
      if (!answer) throw new ApiError(404, "not_found", `no service list stored for ${ip}`);
      return c.json(answer);
    }),
  );

  app.route(
    "/",
    endpoint(kit, { method: "GET", path: "/api/software", role: "read" }, async (c) => {
      const query = params(c, ["name", "version_lt", "limit"]);
      const name = text("name", query.get("name"), true) as string;
      const versionLt = text("version_lt", query.get("version_lt"), false);
      const limit = whole("limit", query.get("limit"), 1, MAX_LIMIT, DEFAULT_LIMIT);
      const hosts = await software.search(name, versionLt, limit);
      const answer: SoftwareSearchAnswer = {
        name,
        version_lt: versionLt ?? null,
        count: hosts.length,
        hosts,
      };
      return c.json(answer);
    }),
  );

  app.route(
    "/",
    endpoint(kit, { method: "GET", path: "/api/software/changes", role: "read" }, async (c) => {
      const query = params(c, ["since", "after", "limit"]);
      const since = text("since", query.get("since"), true) as string;
      const ms = /^\d{4}-\d{2}-\d{2}/.test(since) ? Date.parse(since) : Number.NaN;
      if (!Number.isFinite(ms)) throw bad("since", "must be an ISO 8601 time such as 2026-11-23T00:00:00Z");
      const after = whole("after", query.get("after"), 0, Number.MAX_SAFE_INTEGER, 0);
      const limit = whole("limit", query.get("limit"), 1, MAX_LIMIT, DEFAULT_LIMIT);
      const { changes, truncated } = await software.changes(ms, after, limit);
      const answer: SoftwareChangesAnswer = {
        since: new Date(ms).toISOString(),
        count: changes.length,
        truncated,
        changes,
      };
      return c.json(answer);
    }),
  );

  return app;
}
