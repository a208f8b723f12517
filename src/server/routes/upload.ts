// POST /upload: one report, JSON or gzip JSON, from an `ingest` token.
import type { Hono } from "hono";
import type { UploadAnswer } from "../../shared/api.ts";
import { jsonEncoding, readCapped } from "../body.ts";
import type { AppEnv } from "../env.ts";
import { intakeReport } from "../intake.ts";
import { capUploads } from "../limits.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

export function uploadRoute(kit: RouteKit): Hono<AppEnv> {
  const { options } = kit;
  const slots = capUploads(options.maxUploads, options.maxUploadsPerSource);
  return endpoint(
    kit,
    { method: "POST", path: "/upload", role: "ingest" },
    async (c) => {
      const { gzip } = jsonEncoding(c.req.raw, "the report");
      const ip = c.get("clientIp");
      const body = await readCapped(c.req.raw, options.maxBody, options.bodyTimeoutMs);
      const { prepared: report, report: parsed } = intakeReport({ body, gzip, maxBody: options.maxBody });
      const stored = await options.store.append(report, ip);
      // Not awaited: the report is in its day file, and the lists' bookkeeping must not slow or fail it.
      if (!stored.duplicate) {
        void options.software?.feed(
          stored.ip,
          { collectedAt: parsed.collected_at, software: parsed.software, services: parsed.services },
          options.clock(),
        );
      }
      // An enrolled agent's own token: it was heard from now.
      const agentId = c.get("agentId");
      if (agentId !== undefined && options.agents) {
        await options.agents.touch(agentId, ip, report.summary.agent_version || null, options.clock());
      }
      const answer: UploadAnswer = {
        ok: true,
        duplicate: stored.duplicate,
        stored: { ip: stored.ip, date: stored.date, file: stored.file },
        next_report_in: options.nextReportIn,
      };
      return c.json(answer, stored.duplicate ? 200 : 201);
    },
    [slots],
  );
}
