// `relevo-agent install|uninstall [--print]`: the agent as a service that reports to --url. On Linux it runs
// as a dynamic user keeping one capability, CAP_DAC_READ_SEARCH: reading root-only files such as the DMI
// serial number (/sys/class/dmi/id/product_serial) and every /proc entry, and nothing else (no writing
// outside its spool, no ptrace, no root). On Windows a SYSTEM task. The token goes to a file only
// root/Administrators can read, never to the command line.
import { UsageError } from "../../shared/cli.ts";
import { serviceCommands } from "../../shared/service/command.ts";
import { type Host, resolveOn } from "../../shared/service/platform.ts";
import type { Arg, ServiceSpec } from "../../shared/service/spec.ts";
import { parseSetting, SETTINGS, type SettingName } from "../settings.ts";
import { type Flags, settingArgs, settingFlags } from "./_args.ts";

/** The run settings an installed service can be given; the spool is the service's own state directory. */
const INSTALLED = [
  "url",
  "interval",
  "token",
  "enrollToken",
  "ca",
  "noCommandLines",
  "timeout",
  "spoolMaxReports",
  "spoolMaxBytes",
  "updateKey",
  "noAutoUpdate",
] as const satisfies readonly SettingName[];

const installArgs = settingArgs(INSTALLED);

/**
 * The service's `run` command line. Every value is checked here by the very parser `run` uses, so install
 * never writes a unit whose service fails at every start.
 */
function agentSpec(args: Record<string, unknown>, host: Pick<Host, "platform" | "cwd" | "env">): ServiceSpec {
  const flags = settingFlags(args as Flags);
  const url = flags.url;
  if (typeof url !== "string" || !url)
    throw new UsageError("install needs --url, the server agents report to");
  const extra: Arg[] = [];
  for (const name of INSTALLED) {
    const raw = flags[name];
    if (raw === undefined) continue;
    const flag = SETTINGS[name].flag;
    const value = parseSetting(name, { raw, where: `--${flag}`, base: host.cwd });
    if (name === "url" || name === "token" || name === "enrollToken") continue;
    if (name === "ca") extra.push(`--${flag}`, { file: resolveOn(host, String(raw)), name: "ca" });
    else if (name === "updateKey") {
      extra.push(`--${flag}`, { file: resolveOn(host, String(raw)), name: "update-key" });
    } else if (name === "noCommandLines" || name === "noAutoUpdate") {
      if (value === true) extra.push(`--${flag}`);
    } else extra.push(`--${flag}`, String(raw).trim());
  }
  const token = flags.token !== undefined ? String(flags.token) : host.env.RELEVO_TOKEN;
  if (flags.token === undefined && token)
    parseSetting("token", { raw: token, where: "RELEVO_TOKEN", base: host.cwd });
  const updateKey = flags.updateKey !== undefined ? resolveOn(host, String(flags.updateKey)) : undefined;
  const autoUpdate = !(flags.noAutoUpdate === true);
  return {
    ...baseSpec,
    linux: {
      ...baseSpec.linux,
      // The service cannot replace its own executable: a root oneshot does, after verifying it again.
      ...(autoUpdate
        ? {
            updateUnit: {
              args: (stateDir: string) => [
                "apply-update",
                "--state",
                stateDir,
                ...(updateKey ? ["--update-key", updateKey] : []),
              ],
            },
          }
        : {}),
    },
    args: (stateDir) => ["run", "--url", url, ...extra, "--spool", stateDir],
    secrets: [
      ...(token ? [{ env: "RELEVO_TOKEN", value: token }] : []),
      // The service registers itself at its first start, as its own user, into its own state directory.
      ...(flags.enrollToken !== undefined
        ? [{ env: "RELEVO_ENROLL_TOKEN", value: String(flags.enrollToken) }]
        : []),
    ],
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
