// Everything an upload needs before it reaches the store, as one pure function: inflate, parse, bound the
// nesting, validate against the shared schema, serialize once. A rejected body comes back as the API error
// it deserves. (Worker threads for this were tried and measured: on 2 cores shared with the client they
// cost more CPU in messaging than they saved.)
import { checkReport } from "../shared/report.ts";
import { gunzip, parseJson } from "./body.ts";
import { ApiError, type ErrorDetail } from "./http-error.ts";
import { summarize } from "./store/summary.ts";
import type { PreparedReport } from "./store/types.ts";

export type IntakeResult =
  | { ok: true; report: PreparedReport }
  | { ok: false; status: ApiError["status"]; code: string; message: string; details?: ErrorDetail[] };

export interface IntakeRequest {
  body: Uint8Array;
  gzip: boolean;
  maxBody: number;
}

export function intake({ body, gzip, maxBody }: IntakeRequest): IntakeResult {
  try {
    const check = checkReport(parseJson(gzip ? gunzip(body, maxBody) : body));
    if (!check.ok) {
      throw new ApiError(422, "invalid_report", "the report does not match schema version 1", check.issues);
    }
    return { ok: true, report: prepareReport(check.report) };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return {
      ok: false,
      status: error.status,
      code: error.code,
      message: error.message,
      details: error.details,
    };
  }
}

/** Serializes a valid report once, without the fields the store writes itself, plus its summary. */
export function prepareReport(report: Record<string, unknown> & { report_id: string }): PreparedReport {
  const { report_id, received_at: _r, source_ip: _s, ...rest } = report;
  const summary = summarize(report, "");
  return { id: report_id, json: JSON.stringify(rest), summary };
}
