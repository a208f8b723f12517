// One error type for every HTTP failure, and the one handler that shapes every error answer as
// {"error":{code,message,details?}}: routes and middleware throw, they never format errors by hand.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ErrorDetail, errorBody } from "../shared/api.ts";
import { errorMessage } from "../shared/errors.ts";
import { logger } from "../shared/log.ts";
import { StoreUnavailableError } from "./store/types.ts";

export type { ErrorDetail } from "../shared/api.ts";

const httpLog = logger("http");

export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(status, { message });
    this.name = "ApiError";
  }

  /** The JSON answer, also when something outside the app's onError asks for it. */
  override getResponse(): Response {
    return errorResponse(this.status, this.code, this.message, this.details, this.headers);
  }
}

/** Codes for statuses raised by something other than ApiError (Hono itself, Bun's parser). */
const CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  408: "body_timeout",
  413: "body_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  431: "headers_too_large",
  503: "unavailable",
  505: "http_version_not_supported",
};

function codeFor(status: number): string {
  return CODES[status] ?? (status >= 500 ? "internal" : "bad_request");
}

export function errorResponse(
  status: number,
  code: string,
  message: string,
  details?: ErrorDetail[],
  headers?: Record<string, string>,
): Response {
  return Response.json(errorBody(code, message, details), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** app.onError: keeps each error's own status and code; only a real server fault becomes a 500. */
export function toErrorResponse(error: Error, c: Context): Response {
  if (error instanceof ApiError) return error.getResponse();
  if (error instanceof HTTPException) {
    const message = error.message || "the request could not be handled";
    return errorResponse(error.status, codeFor(error.status), message);
  }
  if (error instanceof StoreUnavailableError) {
    return errorResponse(503, "store_unavailable", error.message, undefined, { "retry-after": "30" });
  }
  httpLog.error(`${c.req.method} ${c.req.path}: ${errorMessage(error)}`, error);
  return errorResponse(500, "internal", "the server failed to handle this request");
}
