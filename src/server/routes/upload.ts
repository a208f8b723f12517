// POST /upload: one report, JSON or gzip JSON, from an `ingest` token.
import type { Hono } from "hono";
import { type UploadAnswer, UploadAnswerSchema } from "../../shared/api.ts";
import { ReportSchema } from "../../shared/report.ts";
import { jsonEncoding, readCapped } from "../body.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http-error.ts";
import { intakeReport } from "../intake.ts";
import { capUploads } from "../limits.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

export function uploadRoute(kit: RouteKit): Hono<AppEnv> {
  const { options } = kit;
  const slots = capUploads(options.maxUploads, options.maxUploadsPerSource);
  return endpoint(
    kit,
    {
      method: "POST",
      path: "/upload",
      role: "ingest",
      doc: {
        tags: ["reports"],
        summary: "Store one report",
        description:
          "The body may be gzip (Content-Encoding: gzip); --max-body bounds it after decompression too. Beyond the schema: numbers are finite and not negative, counts whole, timestamps real calendar days, network prefixes 0 to 128; unknown fields are kept.",
        body: { description: "A report, schema version 1", schema: ReportSchema },
        responses: {
          201: { description: "Stored", schema: UploadAnswerSchema },
          200: {
            description: "A retry of a report already stored (duplicate: true)",
            schema: UploadAnswerSchema,
          },
          408: { description: "The body took too long to arrive" },
          422: { description: "Schema violations, with the path of each bad field in details" },
          503: { description: "The store cannot take writes now (disk full, read-only) or too many uploads" },
        },
      },
    },
    async (c) => {
      const { gzip } = jsonEncoding(c.req.raw, "the report");
      const ip = c.get("clientIp");
      const body = await readCapped(c.req.raw, options.maxBody, options.bodyTimeoutMs);
      const { prepared: report, report: parsed } = intakeReport({ body, gzip, maxBody: options.maxBody });
      // An enrolled agent's own token speaks for that agent only.
      const agentId = c.get("agentId");
      const claimed = parsed.agent.id;
      if (agentId !== undefined && claimed !== null && claimed !== String(agentId)) {
        throw new ApiError(
          403,
          "agent_mismatch",
          `this token belongs to agent ${agentId}; the report names agent ${claimed}`,
        );
      }
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
