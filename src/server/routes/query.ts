// GET /query (one IP's reports of a day) and GET /files (the day files), for `read` tokens.
import { Hono } from "hono";
import { parseDay } from "../day.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http-error.ts";
import { parseIpParam } from "../ip.ts";
import type { DayFilter } from "../store/types.ts";
import { endpoint, type RouteDoc, type RouteKit } from "./_endpoint.ts";

function ipParam(value: string | undefined, required: boolean): string | undefined {
  if (value === undefined) {
    if (required) throw new ApiError(400, "missing_parameter", "ip is required, e.g. /query?ip=10.0.0.5");
    return undefined;
  }
  const ip = parseIpParam(value);
  if (!ip) throw new ApiError(400, "bad_ip", "ip is not an IPv4 or IPv6 address");
  return ip;
}

function dateParam(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const day = parseDay(value);
  if (!day) throw new ApiError(400, "bad_date", "date must be a real calendar day as YYYY-MM-DD");
  return day;
}

function instantParam(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new ApiError(400, "bad_time", `${name} must be an ISO 8601 time`);
  return new Date(ms).toISOString();
}

function limitParam(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1) {
    throw new ApiError(400, "bad_limit", "limit must be a whole number from 1 to 999999");
  }
  return Number(value);
}

const IP = { description: "An IPv4 or IPv6 address (checked as one)" };
const DATE = { description: "A real calendar day, YYYY-MM-DD" };
const QUERY_DOC: RouteDoc = {
  tags: ["reports"],
  summary: "One host's reports of a day, oldest first",
  query: {
    ip: { ...IP, required: true },
    date: { description: `${DATE.description}; default the newest day stored for that ip` },
    from: { description: "Only reports received at or after this ISO 8601 time" },
    to: { description: "Only reports received at or before this ISO 8601 time" },
    limit: { type: "integer", description: "Keep only the newest N (1 to 999999)" },
  },
  responses: {
    200: {
      description: "A JSON array of stored reports; the day in X-Relevo-Date",
      media: "application/json",
    },
    400: { description: "A parameter that is not an address, a day, a time or a count" },
    404: { description: "Nothing stored for that ip (and date)" },
  },
};
const FILES_DOC: RouteDoc = {
  tags: ["reports"],
  summary: "The day files, optionally of one ip and/or date",
  query: { ip: IP, date: DATE },
  responses: {
    200: {
      description: "{ files: [{ name, ip, date, bytes, reports, location }] }",
      media: "application/json",
    },
    400: { description: "A parameter that is not an address or a day" },
  },
};

export function queryRoutes(kit: RouteKit): Hono<AppEnv> {
  const { store } = kit.options;
  const app = new Hono<AppEnv>();

  app.route(
    "/",
    endpoint(kit, { method: "GET", path: "/query", role: "read", doc: QUERY_DOC }, async (c) => {
      const ip = ipParam(c.req.query("ip"), true) as string;
      const requested = dateParam(c.req.query("date"));
      const filter: DayFilter = {
        from: instantParam("from", c.req.query("from")),
        to: instantParam("to", c.req.query("to")),
        limit: limitParam(c.req.query("limit")),
      };
      const date = requested ?? (await store.newestDate(ip));
      const body = date ? await store.readDay(ip, date, filter) : null;
      if (body === null) {
        throw new ApiError(
          404,
          "not_found",
          `no reports stored for ${ip}${requested ? ` on ${requested}` : ""}`,
        );
      }
      return c.body(body, 200, {
        "content-type": "application/json; charset=utf-8",
        "x-relevo-date": date as string,
      });
    }),
  );

  app.route(
    "/",
    endpoint(kit, { method: "GET", path: "/files", role: "read", doc: FILES_DOC }, async (c) => {
      const ip = ipParam(c.req.query("ip"), false);
      const date = dateParam(c.req.query("date"));
      return c.json({ files: await store.listFiles({ ip, date }) });
    }),
  );

  return app;
}
