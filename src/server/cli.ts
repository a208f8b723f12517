#!/usr/bin/env bun
// relevo-server: parses flags and hands them to the command that does the work.
import { defineCommand } from "citty";
import { intFlag, runCli, UsageError } from "../shared/cli.ts";
import { setLogLevel } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { serveArgs } from "./flags.ts";

type ServeArgs = { [K in keyof typeof serveArgs]?: string | boolean };

async function runServe(args: ServeArgs): Promise<void> {
  // Loaded here, not at the top, so `--version`, `token` and `install` start without the HTTP stack.
  const { parseTrustProxy, serve } = await import("./serve.ts");
  // Explicit: consola would go quiet under NODE_ENV=test, which child processes of `bun test` inherit.
  setLogLevel(args.verbose ? 4 : 3);
  const fsync = String(args.fsync);
  if (fsync !== "always" && fsync !== "never")
    throw new UsageError(`--fsync must be always or never, got "${fsync}"`);
  const timezone = String(args.timezone);
  if (timezone !== "utc" && timezone !== "local") throw new UsageError(`--timezone must be utc or local`);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await serve(
    {
      host: String(args.host),
      port: intFlag("port", String(args.port), 0, 65535) ?? 5000,
      dataDir: String(args.data),
      fsync,
      maxBody: intFlag("max-body", String(args["max-body"]), 1024, 1024 * 1024 * 1024) ?? 8 * 1024 * 1024,
      dayZone: timezone,
      trustProxy: parseTrustProxy(args["trust-proxy"] as string | undefined),
      nextReportIn:
        intFlag("next-report-in", args["next-report-in"] as string | undefined, 1, 86_400) ?? null,
      noAuth: args["no-auth"] === true,
      tlsCert: args["tls-cert"] as string | undefined,
      tlsKey: args["tls-key"] as string | undefined,
      rateLimit: intFlag("rate-limit", String(args["rate-limit"]), 0, 1_000_000) ?? 100,
      maxUploads: intFlag("max-uploads", String(args["max-uploads"]), 1, 100_000) ?? 256,
      bodyTimeoutMs: (intFlag("body-timeout", String(args["body-timeout"]), 1, 3600) ?? 30) * 1000,
      logsRetentionDays:
        intFlag("logs-retention-days", String(args["logs-retention-days"]), 0, 100_000) ?? 30,
      logsMaxBytes:
        intFlag("logs-max-bytes", String(args["logs-max-bytes"]), 0, Number.MAX_SAFE_INTEGER) ?? 0,
    },
    controller.signal,
  );
}

const serveCommand = defineCommand({
  meta: { name: "serve", description: "Receive reports and answer queries (the default command)" },
  args: serveArgs,
  run: ({ args }) => runServe(args),
});

const SUBCOMMANDS = ["serve", "token", "install", "uninstall"];

export const main = defineCommand({
  meta: { name: "relevo-server", version: VERSION, description: "relevo inventory server" },
  args: serveArgs,
  subCommands: {
    serve: serveCommand,
    token: () => import("./token-cli.ts").then((m) => m.default),
    install: () => import("./install.ts").then((m) => m.install),
    uninstall: () => import("./install.ts").then((m) => m.uninstall),
  },
  run: ({ args, rawArgs }) => (SUBCOMMANDS.includes(rawArgs[0] ?? "") ? undefined : runServe(args)),
});

if (import.meta.main) await runCli(main, "relevo-server", VERSION);
