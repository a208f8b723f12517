// What createApp is built from: the edges (CLI, tests) pass these in; nothing below reads env or the clock.

import type { ArchiveHealth } from "../shared/api.ts";
import type { Agents } from "./agents/agent-store.ts";
import type { Commands } from "./agents/command-hub.ts";
import type { AlertEngine } from "./alerts/engine.ts";
import type { AuthOptions } from "./auth/guard.ts";
import type { Logs } from "./logs/log-store.ts";
import type { ServerMetrics } from "./metrics/server-metrics.ts";
import type { Releases } from "./releases/release-store.ts";
import type { SoftwareLists } from "./software/software-store.ts";
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
  /** Requests per second allowed per source address and per token and address (burst: twice that); 0 = off. */
  rateLimit?: number;
  /** Uploads in progress at once before new ones get 503 (default 256). */
  maxUploads?: number;
  /** Uploads in progress at once from one source address (default an eighth of maxUploads, at least 16). */
  maxUploadsPerSource?: number;
  /** A body must arrive within this long (default 30 s), or the upload gets 408. */
  bodyTimeoutMs?: number;
  /** Central logs (POST/GET /logs); null leaves those routes out. */
  logs?: Logs | null;
  /** Enrolled agents (register, inventory, health); null leaves those routes out. */
  agents?: Agents | null;
  /** Operations: /metrics and /api/alerts (null leaves both out; /openapi.json and /docs are always there). */
  ops?: OpsOptions | null;
  /** Agent releases (update check, downloads) and commands over the agents' long-polls; null: none. */
  releases?: Releases | null;
  commands?: Commands | null;
  /** The latest software and service list per host (fed from accepted reports); null leaves its routes out. */
  software?: SoftwareLists | null;
  /** The S3 archive's state for /health; null when no archive is configured. */
  archive?: { health(): ArchiveHealth } | null;
}

export interface OpsOptions {
  metrics: ServerMetrics | null;
  /** /metrics without a token (--metrics-public). */
  metricsPublic: boolean;
  alerts: AlertEngine | null;
}

export type ResolvedOptions = Required<AppOptions>;
