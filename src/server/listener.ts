// The Bun.serve options around the app: every answer Bun lets us shape is the JSON error shape. Bun's own
// parser answers a few malformed requests itself, with an empty body, before any of this runs (see
// SECURITY.md, "What Bun answers itself").
import type { Hono } from "hono";
import type { AppEnv } from "./env.ts";
import { errorResponse } from "./http-error.ts";

interface ListenerOptions {
  /** Seconds a connection may stay idle (Bun's default of 10 s is too short for a slow agent). */
  idleTimeout?: number;
}

export function listenerOptions(app: Hono<AppEnv>, options: ListenerOptions = {}) {
  return {
    // Never Bun's empty 413: the app reads every body under its own cap (--max-body, gzip included) and
    // refuses a declared Content-Length above it with a JSON 413 before reading a byte.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: options.idleTimeout ?? 30,
    fetch(
      request: Request,
      server: {
        requestIP(request: Request): { address: string } | null;
        timeout(request: Request, seconds: number): void;
      },
    ) {
      // HTTP/1.0 allows no Host; Bun then hands over a relative URL that no route can match.
      if (!request.headers.get("host")) {
        return errorResponse(400, "missing_host", "the request has no Host header", undefined, {
          connection: "close",
        });
      }
      return app.fetch(request, {
        ip: server.requestIP(request)?.address,
        // A long-poll holds its connection quiet for up to a minute (Bun caps idle timeouts at 255 s).
        timeout: (seconds: number) => server.timeout(request, Math.min(255, seconds)),
      });
    },
    /** Only for a fault that escaped the app's own onError: still JSON, never Bun's HTML page. */
    error(): Response {
      return errorResponse(500, "internal", "the server failed to handle this request");
    },
  };
}
