// Everything an upload needs before it reaches the store, as one function: inflate, check the shape, parse,
// validate against the shared schema, serialize once. A rejected body throws the ApiError it deserves.
// (Worker threads for this were tried and measured: on 2 cores shared with the client they cost more CPU in
// messaging than they saved.)
import { checkReport, type Report } from "../shared/report.ts";
import { gunzip, parseJson } from "./body.ts";
import { ApiError } from "./http-error.ts";
import { summarize } from "./store/summary.ts";
import type { PreparedReport } from "./store/types.ts";

interface IntakeRequest {
  body: Uint8Array;
  gzip: boolean;
  maxBody: number;
}

export function intake(request: IntakeRequest): PreparedReport {
  return intakeReport(request).prepared;
}

/** intake, also handing back the validated report (its software and service lists feed relevo.db). */
export function intakeReport({ body, gzip, maxBody }: IntakeRequest): {
  prepared: PreparedReport;
  report: Report;
} {
  const check = checkReport(parseJson(gzip ? gunzip(body, maxBody) : body));
  if (!check.ok) {
    throw new ApiError(422, "invalid_report", "the report does not match schema version 1", check.issues);
  }
  return { prepared: prepareReport(check.report), report: check.report };
}

/** Serializes a valid report once, without the fields the store writes itself, plus its summary. */
export function prepareReport(report: Record<string, unknown> & { report_id: string }): PreparedReport {
  const { report_id, received_at: _r, source_ip: _s, ...rest } = report;
  const summary = summarize(report, "");
  return { id: report_id, json: JSON.stringify(rest), summary };
}
