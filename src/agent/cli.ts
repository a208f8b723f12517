#!/usr/bin/env bun
// relevo-agent: collect (print one report), run (collect and send every interval), log (send log entries),
// register (enroll), install/uninstall (a service at boot), apply-update (root, installs a staged update). Each command is loaded only when it is called.
import { defineCommand } from "citty";
import { runCli } from "../shared/cli.ts";
import { VERSION } from "../shared/version.ts";

export const main = defineCommand({
  meta: { name: "relevo-agent", version: VERSION, description: "relevo inventory agent" },
  subCommands: {
    collect: () => import("./commands/collect.ts").then((m) => m.default),
    run: () => import("./commands/run.ts").then((m) => m.default),
    log: () => import("./commands/log.ts").then((m) => m.default),
    register: () => import("./commands/register.ts").then((m) => m.default),
    install: () => import("./commands/install.ts").then((m) => m.install),
    uninstall: () => import("./commands/install.ts").then((m) => m.uninstall),
    "apply-update": () => import("./commands/apply-update.ts").then((m) => m.default),
  },
});

if (import.meta.main) await runCli(main, "relevo-agent", VERSION);
