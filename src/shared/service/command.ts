// `install` and `uninstall` for both executables: each app says what its service runs (a ServiceSpec made
// from the install flags); everything else (paths, privilege check, --print, executing) is shared here.
import { type ArgsDef, type CommandDef, defineCommand } from "citty";
import { UsageError } from "../cli.ts";
import { logger, setLogLevel } from "../log.ts";
import { VERSION } from "../version.ts";
import { executePlan } from "./execute.ts";
import { type Plan, renderPlan } from "./plan.ts";
import {
  type Host,
  isCompiled,
  isPrivileged,
  needPrivilegeMessage,
  planInstall,
  planUninstall,
  serviceManagerMissing,
  servicePlatform,
} from "./platform.ts";
import type { ServiceSpec } from "./spec.ts";

const commonArgs = {
  print: { type: "boolean", description: "Show every file and command, touching nothing" },
  verbose: { type: "boolean", description: "Debug logs and stack traces" },
} as const satisfies ArgsDef;

const uninstallArgs = {
  ...commonArgs,
  purge: { type: "boolean", description: "Also remove the service's data (server day files, agent spool)" },
} as const satisfies ArgsDef;

interface ServiceApp<A extends ArgsDef> {
  /** relevo-agent or relevo-server. */
  name: string;
  /** Flags `install` takes besides --print: they become the service's command line. */
  installArgs: A;
  /** The service as the flags describe it; throws a UsageError on a bad flag. */
  spec: (args: Record<string, unknown>, host: Host) => ServiceSpec;
  /** The spec for uninstall (names and paths only; flags do not matter). */
  baseSpec: ServiceSpec;
}

/** The machine as the commands see it: the only place that reads process.* for install. */
function currentHost(): Host {
  return {
    platform: process.platform,
    env: process.env,
    execPath: process.execPath,
    cwd: process.cwd(),
    version: VERSION,
  };
}

function carryOut(plan: Plan, print: boolean): void {
  if (print) {
    process.stdout.write(renderPlan(plan));
    return;
  }
  if (!isPrivileged(plan.platform))
    throw new Error(needPrivilegeMessage(plan.service, plan.action, plan.platform));
  const missing = plan.action === "install" ? serviceManagerMissing(plan.platform) : undefined;
  if (missing) throw new Error(`${plan.service} install: ${missing}`);
  const log = logger(plan.action);
  executePlan(plan, { log: (line) => log.info(line) });
  log.success(`${plan.service} ${plan.action === "install" ? "installed and started" : "uninstalled"}`);
  for (const note of plan.notes) log.info(note);
}

export function serviceCommands<A extends ArgsDef>(
  app: ServiceApp<A>,
  host: () => Host = currentHost,
): { install: CommandDef<A & typeof commonArgs>; uninstall: CommandDef<typeof uninstallArgs> } {
  const install = defineCommand({
    meta: {
      name: "install",
      description: `Install ${app.name} as a service that starts at boot, and start it`,
    },
    args: { ...app.installArgs, ...commonArgs } as A & typeof commonArgs,
    run: ({ args }) => {
      setLogLevel(args.verbose ? 4 : 3);
      const h = host();
      servicePlatform(h.platform);
      if (!args.print && !isCompiled()) {
        throw new UsageError(
          `install copies the running executable, and this is Bun running the sources: build it first (bun run build) ` +
            `and run dist/${app.name}-... install (--print works from the sources)`,
        );
      }
      carryOut(planInstall(app.spec(args as Record<string, unknown>, h), h), args.print === true);
    },
  });
  const uninstall = defineCommand({
    meta: {
      name: "uninstall",
      description: `Stop and remove the ${app.name} service (its data stays unless --purge)`,
    },
    args: uninstallArgs,
    run: ({ args }) => {
      setLogLevel(args.verbose ? 4 : 3);
      carryOut(planUninstall(app.baseSpec, host(), args.purge === true), args.print === true);
    },
  });
  return { install, uninstall };
}
