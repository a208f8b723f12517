// `relevo-server serve` (the default command): turns the flags into settings and runs the server until
// SIGTERM or SIGINT.
import { defineCommand } from "citty";
import { intFlag } from "../../shared/cli.ts";
import { setLogLevel } from "../../shared/log.ts";
import type { TlsMode } from "../pg/connect.ts";
import { serveArgs } from "./_serve-args.ts";

/** --database (or RELEVO_DATABASE_URL) and its TLS and timeout flags; undefined: the data directory. */
function databaseFlags(
  args: {
    database?: string;
    "database-tls"?: string;
    "database-ca"?: string;
    "database-statement-timeout"?: string;
  },
  fromEnv: string | undefined,
) {
  const url = args.database ?? (fromEnv || undefined);
  if (url === undefined) return undefined;
  return {
    url,
    tls: args["database-tls"] as TlsMode | undefined,
    caFile: args["database-ca"],
    statementTimeoutMs:
      (intFlag("database-statement-timeout", args["database-statement-timeout"], 1, 3600) ?? 10) * 1000,
  };
}

export default defineCommand({
  meta: { name: "serve", description: "Receive reports and answer queries (the default command)" },
  args: serveArgs,
  async run({ args }) {
    // Loaded here, not at the top, so `--version`, `token` and `install` start without the HTTP stack.
    const { parseTrustProxy, serve } = await import("../serve.ts");
    const { archiveSettings } = await import("../archive/settings.ts");
    // Explicit: consola would go quiet under NODE_ENV=test, which child processes of `bun test` inherit.
    setLogLevel(args.verbose ? 4 : 3);
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    try {
      await serve(
        {
          host: args.host,
          port: intFlag("port", args.port, 0, 65535) ?? 5000,
          dataDir: args.data,
          fsync: args.fsync,
          maxBody: intFlag("max-body", args["max-body"], 1024, 1024 * 1024 * 1024) ?? 8 * 1024 * 1024,
          dayZone: args.timezone,
          trustProxy: parseTrustProxy(args["trust-proxy"]),
          nextReportIn: intFlag("next-report-in", args["next-report-in"], 1, 86_400) ?? null,
          noAuth: args.auth === false,
          tlsCert: args["tls-cert"],
          tlsKey: args["tls-key"],
          rateLimit: intFlag("rate-limit", args["rate-limit"], 0, 1_000_000) ?? 100,
          maxUploads: intFlag("max-uploads", args["max-uploads"], 1, 100_000) ?? 256,
          bodyTimeoutMs: (intFlag("body-timeout", args["body-timeout"], 1, 3600) ?? 30) * 1000,
          logsRetentionDays: intFlag("logs-retention-days", args["logs-retention-days"], 0, 100_000) ?? 30,
          logsMaxBytes: intFlag("logs-max-bytes", args["logs-max-bytes"], 0, Number.MAX_SAFE_INTEGER) ?? 0,
          database: databaseFlags(args, process.env.RELEVO_DATABASE_URL),
          metricsPublic: args["metrics-public"] === true,
          metricsPerHost: intFlag("metrics-per-host", args["metrics-per-host"], 0, 100_000) ?? 0,
          alertsFile: args.alerts,
          archive: archiveSettings(args, process.env),
        },
        controller.signal,
      );
    } finally {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
    }
  },
});
