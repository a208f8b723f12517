// What the app is built from: the edges (CLI, tests) pass these in; nothing below reads env or the clock.
import type { AuthOptions } from "./auth/guard.ts";
import type { LogStore } from "./logs/log-store.ts";
import type { Store } from "./store/types.ts";

export interface AppOptions {
  store: Store;
  version: string;
  clock?: () => Date;
  /** Largest body accepted, after decompression too (default 8 MiB). */
  maxBody?: number;
  /** Proxies whose X-Forwarded-For is believed (canonical IPs). */
  trustProxy?: readonly string[];
  /** Seconds the server asks agents to wait before the next report; null lets them choose. */
  nextReportIn?: number | null;
  /** Tokens and roles; default: no checks (tests and loopback trials). */
  auth?: AuthOptions;
  /** Requests per second allowed per source address and per token (burst: twice that); 0 turns it off. */
  rateLimit?: number;
  /** Uploads in progress at once before new ones get 503 (default 256). */
  maxUploads?: number;
  /** A body must arrive within this long (default 30 s), or the upload gets 408. */
  bodyTimeoutMs?: number;
  /** Central logs (POST/GET /logs); null leaves those routes out. */
  logs?: LogStore | null;
}

/** Per-request bindings from Bun.serve: the TCP peer address. Tests pass them to app.request(). */
export interface Bindings {
  ip?: string;
}

export type AppEnv = { Bindings: Bindings; Variables: { clientIp: string } };
