// `relevo-server serve`: opens what the server keeps (the data directory, or PostgreSQL with --database),
// starts Bun.serve on the app, and on SIGTERM/SIGINT stops accepting, lets in-flight uploads finish,
// checkpoints and exits 0.
import { readFileSync } from "node:fs";
import { UsageError } from "../shared/cli.ts";
import { logger } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { createApp } from "./app.ts";
import { openArchive } from "./archive/open.ts";
import { ArchiveSchedule } from "./archive/schedule.ts";
import type { ArchiveSettings } from "./archive/settings.ts";
import type { AuthMode } from "./auth/guard.ts";
import { type DatabaseFlags, openBackend, type TokenGate } from "./backend.ts";
import type { DayZone } from "./day.ts";
import { canonicalIp } from "./ip.ts";
import { listenerOptions } from "./listener.ts";
import { LogStore } from "./logs/log-store.ts";
import { ServerMetrics } from "./metrics/server-metrics.ts";
import { openOps, readAlerts } from "./ops.ts";
import { DEFAULT_INTERVAL_S } from "./routes/agents.ts";
import type { FsyncMode } from "./store/file-store.ts";

const serveLog = logger("server");
/** How long SIGTERM waits for open requests before closing their connections. */
const DRAIN_MS = 5_000;

interface ServeSettings {
  host: string;
  port: number;
  dataDir: string;
  fsync: FsyncMode;
  maxBody: number;
  dayZone: DayZone;
  trustProxy: string[];
  nextReportIn: number | null;
  noAuth: boolean;
  tlsCert?: string;
  tlsKey?: string;
  rateLimit: number;
  maxUploads: number;
  bodyTimeoutMs: number;
  /** Central logs: 0 keeps everything / no size bound. */
  logsRetentionDays: number;
  logsMaxBytes: number;
  /** Operations: /metrics without a token, per-host series cap (0: none), the alert rules file. */
  metricsPublic?: boolean;
  metricsPerHost?: number;
  alertsFile?: string;
  /** The S3 archive; null when none is configured. */
  archive?: ArchiveSettings | null;
  /** PostgreSQL instead of the data directory: reports, logs, agents, tokens and commands shared by several servers. */
  database?: DatabaseFlags;
}

function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  const ip = canonicalIp(host);
  return ip !== null && (ip === "::1" || ip.startsWith("127."));
}

export function parseTrustProxy(value: string | undefined): string[] {
  if (!value) return [];
  return value.split(",").map((entry) => {
    const ip = canonicalIp(entry.trim());
    if (!ip) throw new UsageError(`--trust-proxy: "${entry.trim()}" is not an IP address`);
    return ip;
  });
}

export async function serve(settings: ServeSettings, signal: AbortSignal): Promise<void> {
  if ((settings.tlsCert === undefined) !== (settings.tlsKey === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  const tls =
    settings.tlsCert && settings.tlsKey
      ? { cert: readFileSync(settings.tlsCert, "utf8"), key: readFileSync(settings.tlsKey, "utf8") }
      : undefined;
  // Checked before anything opens: a mistake in the rules stops the start with every problem named.
  const alertsFile = readAlerts(settings.alertsFile);
  if (settings.archive?.logs && settings.database) {
    throw new UsageError(
      "--archive-logs does not go with --database yet: the log archive reads relevo.db (PostgreSQL's logs are bounded by --logs-retention-days)",
    );
  }
  const loopback = isLoopback(settings.host);
  const proxied = settings.trustProxy.length > 0;
  const gate: TokenGate = (registry, hint) => {
    if ((loopback && !proxied) || settings.noAuth || registry.count > 0) return;
    const where = loopback ? "behind a proxy (--trust-proxy)" : `on ${settings.host}`;
    throw new UsageError(
      `refusing to listen ${where} with no API token: anyone could read the inventory. Create tokens with\n` +
        `  relevo-server token create --role ingest ${hint}\n  relevo-server token create --role read ${hint}\n` +
        "or pass --no-auth to serve without tokens on purpose",
    );
  };
  const metrics = new ServerMetrics(VERSION);
  const interval = (settings.nextReportIn ?? DEFAULT_INTERVAL_S) * 1000;
  const backend = await openBackend(
    {
      dataDir: settings.dataDir,
      fsync: settings.fsync,
      dayZone: settings.dayZone,
      logsRetentionDays: settings.logsRetentionDays,
      logsMaxBytes: settings.logsMaxBytes,
      // Stale after three missed intervals of the one the server asks for (or the guide's 300 s).
      staleAfterMs: 3 * interval,
      observer: metrics.journal,
      ...(settings.database ? { database: settings.database } : {}),
    },
    gate,
  );
  const { registry, software } = backend;
  const archive = !settings.archive
    ? null
    : backend.pg
      ? await (await import("./pg/archive.ts")).openPgArchive(
          settings.archive,
          backend.pg.sql,
          backend.pg.reports,
          settings.dayZone,
          () => new Date(),
        )
      : backend.fileStore && backend.stateDb
        ? openArchive(
            settings.archive,
            backend.fileStore,
            backend.stateDb.db,
            settings.dayZone,
            () => new Date(),
            settings.logsRetentionDays,
          )
        : null;
  const logDays = archive && "logDays" in archive.archiver ? archive.archiver.logDays : undefined;
  // Retention waits for the log archive: no day goes before its object is verified in the bucket.
  if (logDays && backend.logs instanceof LogStore) backend.logs.holdRetention(() => logDays.holdMicros());
  else if (settings.archive?.logs) {
    serveLog.warn("--archive-logs does nothing without --logs-retention-days above 0 (logs are kept)");
  }
  const schedule =
    archive && settings.archive
      ? new ArchiveSchedule(
          archive.archiver,
          "cached" in archive.manifest ? archive.manifest.cached : archive.manifest,
          settings.archive,
          settings.dayZone,
          () => new Date(),
        )
      : null;
  if (archive && schedule) {
    const r = metrics.registry;
    r.gauge(
      "relevo_archive_backlog_files",
      "Closed day files due for the archive and not yet in it",
      () => archive.archiver.candidates(false).length,
    );
    r.gauge(
      "relevo_archive_archived_files",
      "Day files verified in the bucket",
      () => schedule.health().archived,
    );
    r.gauge(
      "relevo_archive_failed_files",
      "Day files whose last archive try failed",
      () => schedule.health().failed,
    );
  }
  if (software) {
    metrics.registry.register(
      "relevo_software_feed_failures_total",
      "Accepted reports whose software or service list could not be recorded (the report itself is stored)",
      "counter",
      () => [{ labels: {}, value: software.failures }],
    );
  }
  const opened = openOps(metrics, {
    store: archive?.view ?? backend.store,
    logs: backend.logs,
    alertState: alertsFile ? backend.openAlertState() : null,
    alertsFile,
    intervalMs: interval,
    metricsPerHost: settings.metricsPerHost ?? 0,
    clock: () => new Date(),
  });
  // Through a proxy every client looks like loopback: only a server nobody proxies may be open.
  const mode: AuthMode = settings.noAuth ? "off" : loopback && !proxied ? "if-tokens" : "required";
  const app = createApp({
    store: opened.store,
    archive: schedule,
    auth: { mode, registry },
    rateLimit: settings.rateLimit,
    maxUploads: settings.maxUploads,
    bodyTimeoutMs: settings.bodyTimeoutMs,
    version: VERSION,
    maxBody: settings.maxBody,
    trustProxy: settings.trustProxy,
    nextReportIn: settings.nextReportIn,
    logs: backend.logs,
    agents: backend.agents,
    ops: { metrics: opened.metrics, metricsPublic: settings.metricsPublic ?? false, alerts: opened.alerts },
    releases: backend.releases,
    commands: backend.commands,
    software,
  });
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: settings.host, port: settings.port, tls, ...listenerOptions(app) });
  } catch (error) {
    await opened.close();
    await backend.close();
    throw error;
  }
  opened.start();
  if (settings.fsync === "never") {
    serveLog.warn(
      "--fsync never: reports are acknowledged before they are on disk; a power loss can lose them",
    );
  }
  serveLog.info(
    `relevo-server ${VERSION} listening on ${tls ? "https" : "http"}://${server.hostname}:${server.port} (${backend.where})`,
  );
  if (mode === "off") serveLog.warn("--no-auth: anyone who reaches this port can upload and read");
  else if (mode === "if-tokens" && !registry.required) {
    serveLog.info("no API tokens yet: open on loopback only (relevo-server token create --role ingest|read)");
  } else if (registry.count === 0) {
    serveLog.warn(
      "no API token left (tokens existed here before): every request needs one (relevo-server token create --role ingest|read)",
    );
  }
  if (schedule && archive) {
    schedule.start();
    const { afterDays, keepLocal } = archive.bucket.settings;
    serveLog.info(
      `archiving days older than ${afterDays} day(s) to ${archive.bucket.where}/${archive.bucket.settings.prefix}${keepLocal ? " (local files kept)" : ""}; next run ${schedule.health().next_run_at}`,
    );
  }
  const flush = setInterval(() => void registry.flushUsage(), 30_000);
  flush.unref();
  await new Promise<void>((done) => signal.addEventListener("abort", () => done(), { once: true }));
  serveLog.info("stopping: finishing in-flight uploads");
  // Open long-polls are answered now (empty): agents reconnect to the next server.
  await backend.commands.close();
  // A client trickling a body (or holding a connection open) must not hold the stop past a bound: what has
  // arrived by then is answered; the rest is cut, and the agents retry it.
  // A cleared timer, not Bun.sleep: a pending sleep would hold the exit for the whole bound.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<boolean>((expire) => {
    timer = setTimeout(() => expire(true), DRAIN_MS);
  });
  const forced = await Promise.race([server.stop().then(() => false), deadline]);
  clearTimeout(timer);
  if (forced) {
    serveLog.warn(`requests still open after ${DRAIN_MS / 1000} s: closing their connections`);
    await server.stop(true);
  }
  clearInterval(flush);
  await schedule?.stop();
  await opened.close();
  await backend.close();
  serveLog.info("stopped");
}
