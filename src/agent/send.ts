// Delivery of one report: a gzip POST to the server's /upload, and what its answer means for the report.
// 2xx: delivered (200 for a report_id the server already had counts too). No answer, a timeout, 5xx, 408 or
// 429: try again later, from the spool. Any other 4xx: the report itself or the agent's setup is wrong, so
// sending the same bytes again cannot help; it is not retried and the server's message is logged.
import * as v from "valibot";
import { type ErrorBody, ErrorBodySchema, UploadAnswerSchema } from "../shared/api.ts";
import { errorMessage } from "../shared/errors.ts";

export type Outcome =
  | {
      kind: "delivered";
      status: number;
      duplicate: boolean;
      /** The server's `next_report_in` in seconds, when it gave one. */
      nextReportInS: number | undefined;
    }
  | {
      kind: "retry";
      /** The HTTP status, or undefined when no answer came (refused, reset, timeout, stopped). */
      status: number | undefined;
      reason: string;
      /** From a Retry-After header, in milliseconds. */
      retryAfterMs: number | undefined;
    }
  | { kind: "rejected"; status: number; code: string; message: string };

export interface SenderOptions {
  url: URL;
  token?: string | undefined;
  timeoutMs: number;
  /** PEM text of a private CA to trust besides the system's. */
  ca?: string | undefined;
  userAgent: string;
  /** Milliseconds since the epoch, for a Retry-After given as a date. */
  now: () => number;
  /** Stands in for the global fetch in tests. */
  fetch?: typeof fetch;
}

/** Sends an already gzip-compressed JSON report; resolves to an outcome and never throws. */
export type Send = (gzipBody: Uint8Array, signal?: AbortSignal) => Promise<Outcome>;

/** Statuses worth trying again later with the same bytes. */
export function isRetryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export function createSender(options: SenderOptions): Send {
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "Content-Encoding": "gzip",
    Accept: "application/json",
    "User-Agent": options.userAgent,
  };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const tls = options.ca ? { ca: options.ca } : undefined;
  return async (gzipBody, signal) => {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await doFetch(options.url, { method: "POST", headers, body: gzipBody, signal: abort, tls });
      // The whole answer is read within the same deadline; it is small JSON.
      text = await response.text();
    } catch (error) {
      const reason = timeout.aborted
        ? `no answer from ${options.url.origin} within ${options.timeoutMs / 1000} s`
        : signal?.aborted
          ? "stopped before the server answered"
          : `cannot reach ${options.url.origin}: ${errorMessage(error)}`;
      return { kind: "retry", status: undefined, reason, retryAfterMs: undefined };
    }
    const status = response.status;
    const body = parseJson(text);
    if (status >= 200 && status < 300) {
      // A 2xx that is not our answer (a proxy's page) still means delivered; its extras are unknown.
      const answer = v.safeParse(UploadAnswerSchema, body);
      const next = answer.success ? answer.output.next_report_in : null;
      return {
        kind: "delivered",
        status,
        duplicate: (answer.success && answer.output.duplicate) || status === 200,
        nextReportInS: next !== null && Number.isFinite(next) && next > 0 ? next : undefined,
      };
    }
    const error = v.safeParse(ErrorBodySchema, body);
    const { code, message } = serverError(
      error.success ? error.output : undefined,
      text,
      response.statusText,
    );
    if (isRetryable(status)) {
      return {
        kind: "retry",
        status,
        reason: `${options.url.origin} answered ${status} ${code}: ${message}`,
        retryAfterMs: retryAfterMs(response.headers.get("retry-after"), options.now()),
      };
    }
    return { kind: "rejected", status, code, message };
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The server's `{"error":{"code","message"}}`, or the start of whatever else came back (a proxy's page). */
function serverError(
  body: ErrorBody | undefined,
  text: string,
  statusText: string,
): { code: string; message: string } {
  if (body) {
    const { code, message, details = [] } = body.error;
    const listed = details
      .slice(0, 5)
      .map((d) => `${d.path}: ${d.message}`)
      .join("; ");
    return { code, message: listed ? `${message} (${listed})` : message };
  }
  const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
  return { code: "http_error", message: snippet || statusText || "no message" };
}

/** Retry-After as seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}
