// GET /hosts (the latest summary per host, for `read` tokens; paged, sorted and filtered on the server when
// any paging parameter is given), GET /api/hosts/{ip}/series (a day's numbers for charts) and GET /health.
import { Hono } from "hono";
import * as v from "valibot";
import { type HealthAnswer, HealthAnswerSchema } from "../../shared/api.ts";
import { HostQuerySchema, SeriesQuerySchema } from "../../shared/fleet-api.ts";
import { parseDay } from "../day.ts";
import type { AppEnv } from "../env.ts";
import { seriesAnswer } from "../fleet/day-series.ts";
import { hostPage } from "../fleet/host-page.ts";
import { SeriesCache } from "../fleet/series-cache.ts";
import { ApiError } from "../http-error.ts";
import { parseIpParam } from "../ip.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";
import { DEFAULT_INTERVAL_S } from "./agents.ts";

const PAGING = Object.keys(HostQuerySchema.entries);

/** 400 naming every bad parameter, the shape GET /logs uses. */
function parseQuery<T extends v.GenericSchema>(schema: T, query: Record<string, string>): v.InferOutput<T> {
  const parsed = v.safeParse(schema, query);
  if (parsed.success) return parsed.output;
  throw new ApiError(
    400,
    "bad_parameters",
    `the query parameters are not valid: ${v.summarize(parsed.issues)}`,
    parsed.issues.slice(0, 20).map((issue) => ({ path: v.getDotPath(issue) ?? "", message: issue.message })),
  );
}

export function fleetRoutes(kit: RouteKit): Hono<AppEnv> {
  const { store, clock, version } = kit.options;
  // Silent after three missed intervals of the one the server asks agents for.
  const silentAfterMs = 3 * (kit.options.nextReportIn ?? DEFAULT_INTERVAL_S) * 1000;
  const series = new SeriesCache(store);
  const app = new Hono<AppEnv>();

  app.route(
    "/",
    endpoint(
      kit,
      {
        method: "GET",
        path: "/hosts",
        role: "read",
        doc: {
          tags: ["fleet"],
          summary:
            "The latest summary of every host, from memory; paged, sorted and filtered with q, os, state, sort, order, limit, offset",
          responses: {
            200: {
              description:
                "{ count, hosts }, or a page { count, total, offset, limit, silent_after_s, counts, hosts }",
              media: "application/json",
            },
          },
        },
      },
      async (c) => {
        const params = c.req.query();
        const hosts = await store.hosts();
        // Without a paging parameter: the whole list, as existing clients expect it.
        if (!Object.keys(params).some((name) => PAGING.includes(name))) {
          return c.json({ count: hosts.length, hosts });
        }
        return c.json(hostPage(hosts, parseQuery(HostQuerySchema, params), clock().getTime(), silentAfterMs));
      },
    ),
  );

  app.route(
    "/",
    endpoint(
      kit,
      {
        method: "GET",
        path: "/api/hosts/:ip/series",
        role: "read",
        doc: {
          tags: ["fleet"],
          summary:
            "A day's numbers for charts (fields=cpu.load_percent,memory.available_bytes,...; date YYYY-MM-DD, a real calendar day; max_points)",
          responses: { 200: { description: "The series", media: "application/json" } },
        },
      },
      async (c) => {
        const ip = parseIpParam(c.req.param("ip") ?? "");
        if (!ip) throw new ApiError(400, "bad_ip", "the path's ip is not an IPv4 or IPv6 address");
        const query = parseQuery(SeriesQuerySchema, c.req.query());
        const requested = query.date === undefined ? undefined : parseDay(query.date);
        if (requested === null) {
          throw new ApiError(400, "bad_date", "date must be a real calendar day as YYYY-MM-DD", [
            { path: "date", message: "not a calendar day" },
          ]);
        }
        const date = requested ?? (await store.newestDate(ip));
        const scan = date ? await series.scan(ip, date) : null;
        if (!date || scan === null) {
          throw new ApiError(
            404,
            "not_found",
            `no reports stored for ${ip}${requested ? ` on ${requested}` : ""}`,
          );
        }
        return c.json(seriesAnswer(scan, { ip, date, fields: query.fields, maxPoints: query.max_points }));
      },
    ),
  );

  app.route(
    "/",
    endpoint(
      kit,
      {
        method: "GET",
        path: "/health",
        role: null,
        doc: {
          tags: ["fleet"],
          summary: "Whether the store (and logs) take writes; for load balancers and HEALTHCHECK",
          responses: { 200: { description: "Health", schema: HealthAnswerSchema } },
        },
      },
      async (c) => {
        const health = await store.health();
        const answer: HealthAnswer = {
          status: health.writable ? "ok" : "degraded",
          version,
          uptime_s: Math.max(0, Math.round((clock().getTime() - kit.startedAt) / 1000)),
          store: health,
          ...(kit.options.logs ? { logs: await kit.options.logs.health() } : {}),
          ...(kit.options.archive ? { archive: kit.options.archive.health() } : {}),
        };
        return c.json(answer);
      },
    ),
  );

  return app;
}
