import type { Hono } from "hono";
import { readCapped } from "../body.ts";
import type { AppEnv, AppOptions } from "../context.ts";
import { ApiError } from "../http-error.ts";
import { intake } from "../intake.ts";

export function uploadRoutes(app: Hono<AppEnv>, options: Required<AppOptions>): void {
  app.post("/upload", async (c) => {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new ApiError(415, "unsupported_media_type", "send the report as Content-Type: application/json");
    }
    const encoding = (c.req.header("content-encoding") ?? "identity").trim().toLowerCase();
    if (encoding !== "identity" && encoding !== "gzip") {
      throw new ApiError(
        415,
        "unsupported_encoding",
        `Content-Encoding ${encoding} is not supported; use gzip`,
      );
    }
    const ip = c.get("clientIp");
    const body = await readCapped(c.req.raw, options.maxBody, options.bodyTimeoutMs);
    const result = intake({ body, gzip: encoding === "gzip", maxBody: options.maxBody });
    if (!result.ok) throw new ApiError(result.status, result.code, result.message, result.details);
    const stored = await options.store.append(result.report, ip);
    return c.json(
      {
        ok: true,
        duplicate: stored.duplicate,
        stored: { ip: stored.ip, date: stored.date, file: stored.file },
        next_report_in: options.nextReportIn,
      },
      stored.duplicate ? 200 : 201,
    );
  });
}
