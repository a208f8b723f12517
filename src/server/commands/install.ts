// `relevo-server install|uninstall [--print]`: the server as a service. On Linux it runs as its own system
// user `relevo-server` with its data in /var/lib/relevo-server (so `sudo -u relevo-server relevo-server
// token create --data /var/lib/relevo-server ...` makes tokens it can read); on Windows as a SYSTEM task
// with its data in C:\ProgramData\relevo\server. The install flags become the service's serve flags.
import type { ArgsDef } from "citty";
import { intFlag, UsageError } from "../../shared/cli.ts";
import { serviceCommands } from "../../shared/service/command.ts";
import { type Host, resolveOn } from "../../shared/service/platform.ts";
import type { Arg, ServiceSpec } from "../../shared/service/spec.ts";
import { serveArgs } from "./_serve-args.ts";

/** The serve flags an installed service is started with, when given; unset ones keep serve's defaults. */
const PASSED_ON = [
  "fsync",
  "timezone",
  "trust-proxy",
  "next-report-in",
  "max-body",
  "rate-limit",
  "max-uploads",
  "body-timeout",
  "logs-retention-days",
  "logs-max-bytes",
  "metrics-per-host",
  "archive-url",
  "archive-endpoint",
  "archive-region",
  "archive-after-days",
  "archive-at",
  "archive-timeout",
  "archive-jitter",
  "archive-duty",
] as const;

function withoutDefault<T extends object>(flag: T): Omit<T, "default"> {
  const { default: _, ...rest } = flag as T & { default?: unknown };
  return rest;
}

const installArgs = {
  host: { ...serveArgs.host, description: "Address to listen on (0.0.0.0: every address)" },
  port: { ...serveArgs.port, description: "TCP port" },
  ...(Object.fromEntries(PASSED_ON.map((name) => [name, withoutDefault(serveArgs[name])])) as {
    [K in (typeof PASSED_ON)[number]]: Omit<(typeof serveArgs)[K], "default">;
  }),
  auth: serveArgs.auth,
  "tls-cert": { ...serveArgs["tls-cert"], description: "PEM certificate for HTTPS (handed to the service)" },
  "tls-key": { ...serveArgs["tls-key"], description: "PEM private key for HTTPS (handed to the service)" },
  "metrics-public": serveArgs["metrics-public"],
  alerts: { ...serveArgs.alerts, description: "Alert rules file (handed to the service)" },
  "archive-keep-local": serveArgs["archive-keep-local"],
  "archive-logs": serveArgs["archive-logs"],
  "archive-credentials-file": {
    ...serveArgs["archive-credentials-file"],
    description: "AWS credentials file for the archive (handed to the service)",
  },
} satisfies ArgsDef;

function serverSpec(args: Record<string, unknown>, on: Pick<Host, "platform" | "cwd">): ServiceSpec {
  const host = String(args.host ?? "127.0.0.1");
  if (!host || /\s/.test(host)) throw new UsageError(`--host must be an address, got "${host}"`);
  const port = intFlag("port", String(args.port ?? "5000"), 1, 65535) ?? 5000;
  const extra: Arg[] = [];
  for (const flag of PASSED_ON) {
    const value = args[flag];
    if (typeof value === "string" && value !== "") extra.push(`--${flag}`, value);
  }
  if (args.auth === false) extra.push("--no-auth");
  const cert = args["tls-cert"];
  const key = args["tls-key"];
  if ((typeof cert === "string") !== (typeof key === "string"))
    throw new UsageError("--tls-cert and --tls-key go together");
  if (typeof cert === "string" && typeof key === "string") {
    extra.push("--tls-cert", { file: resolveOn(on, cert), name: "tls-cert" });
    extra.push("--tls-key", { file: resolveOn(on, key), name: "tls-key" });
  }
  if (args["metrics-public"] === true) extra.push("--metrics-public");
  if (typeof args.alerts === "string")
    extra.push("--alerts", { file: resolveOn(on, args.alerts), name: "alerts" });
  if (args["archive-keep-local"] === true) extra.push("--archive-keep-local");
  if (args["archive-logs"] === true) extra.push("--archive-logs");
  const credentials = args["archive-credentials-file"];
  if (typeof credentials === "string")
    extra.push("--archive-credentials-file", {
      file: resolveOn(on, credentials),
      name: "archive-credentials",
    });
  const lowPort = port < 1024;
  return {
    name: "relevo-server",
    short: "server",
    description: "relevo inventory server",
    args: (stateDir) => ["serve", "--host", host, "--port", String(port), "--data", stateDir, ...extra],
    secrets: [],
    linux: {
      user: "system",
      capabilities: lowPort ? ["CAP_NET_BIND_SERVICE"] : [],
      protectHome: "yes",
      addressFamilies: ["AF_UNIX", "AF_INET", "AF_INET6"],
      extra: ["# One open day file per host and a connection per uploading agent.", "LimitNOFILE=65536"],
    },
    windows: { priority: 5 },
  };
}

const commands = serviceCommands({
  name: "relevo-server",
  installArgs,
  spec: serverSpec,
  baseSpec: serverSpec({}, { platform: "linux", cwd: "/" }),
});

export const install = commands.install;
export const uninstall = commands.uninstall;
export { serverSpec };
