// `relevo-agent install|uninstall [--print]`: the agent as a service that reports to --url. On Linux it runs
// as a dynamic user keeping one capability, CAP_DAC_READ_SEARCH: reading root-only files such as the DMI
// serial number (/sys/class/dmi/id/product_serial) and every /proc entry, and nothing else (no writing
// outside its spool, no ptrace, no root). On Windows a SYSTEM task. The token goes to a file only
// root/Administrators can read, never to the command line.
import type { ArgsDef } from "citty";
import { intFlag, UsageError } from "../shared/cli.ts";
import { serviceCommands } from "../shared/service/command.ts";
import { type Host, resolveOn } from "../shared/service/platform.ts";
import type { Arg, ServiceSpec } from "../shared/service/spec.ts";

const installArgs = {
  url: { type: "string", description: "The server, e.g. http://inventory.example:5000 (required)" },
  interval: { type: "string", description: "Seconds between reports (default: the agent's, 300)" },
  token: {
    type: "string",
    description: "Ingest token (or RELEVO_TOKEN in the environment); stored in a protected file",
  },
  ca: { type: "string", description: "PEM file of a private CA the server's certificate is checked against" },
  "command-lines": {
    type: "boolean",
    default: true,
    description: "Report process command lines (--no-command-lines leaves them out)",
  },
} as const satisfies ArgsDef;

function parseUrl(value: unknown): string {
  if (typeof value !== "string" || !value)
    throw new UsageError("install needs --url, the server agents report to");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--url must be an http:// or https:// URL, got "${value}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--url must be an http:// or https:// URL, got "${value}"`);
  }
  return value;
}

function agentSpec(args: Record<string, unknown>, host: Pick<Host, "platform" | "cwd" | "env">): ServiceSpec {
  const url = parseUrl(args.url);
  const extra: Arg[] = [];
  const interval = intFlag("interval", args.interval as string | undefined, 10, 86_400);
  if (interval !== undefined) extra.push("--interval", String(interval));
  if (args["command-lines"] === false) extra.push("--no-command-lines");
  if (typeof args.ca === "string" && args.ca)
    extra.push("--ca", { file: resolveOn(host, args.ca), name: "ca" });
  const token = typeof args.token === "string" && args.token ? args.token : host.env.RELEVO_TOKEN;
  return {
    ...baseSpec,
    args: (stateDir) => ["run", "--url", url, ...extra, "--spool", stateDir],
    secrets: token ? [{ env: "RELEVO_TOKEN", value: token }] : [],
  };
}

const baseSpec: ServiceSpec = {
  name: "relevo-agent",
  short: "agent",
  description: "relevo inventory agent",
  args: (stateDir) => ["run", "--spool", stateDir],
  secrets: [],
  linux: {
    user: "dynamic",
    capabilities: ["CAP_DAC_READ_SEARCH"],
    // Read-only rather than hidden: the disk report must see the real /home file system.
    protectHome: "read-only",
    // AF_NETLINK: listing network interfaces.
    addressFamilies: ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"],
    extra: [
      "# Light: it yields the CPU and the disks to the work it watches.",
      "Nice=10",
      "IOSchedulingClass=idle",
    ],
  },
  windows: { priority: 7, envFileFlag: "--env-file" },
};

const commands = serviceCommands({
  name: "relevo-agent",
  installArgs,
  spec: agentSpec,
  baseSpec,
});

export const install = commands.install;
export const uninstall = commands.uninstall;
export { agentSpec };
