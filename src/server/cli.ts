#!/usr/bin/env bun
// relevo-server: serve (the default), token, agent, release, archive, install, uninstall, health, export,
// import. Each command is loaded only when called.
import { defineCommand } from "citty";
import { runCli } from "../shared/cli.ts";
import { VERSION } from "../shared/version.ts";
import { serveArgs } from "./commands/_serve-args.ts";

export const main = defineCommand({
  meta: { name: "relevo-server", version: VERSION, description: "relevo inventory server" },
  // The serve flags, so that citty, looking for a command name, skips their values (`--host 0.0.0.0`).
  args: serveArgs,
  default: "serve",
  subCommands: {
    serve: () => import("./commands/serve.ts").then((m) => m.default),
    token: () => import("./commands/token.ts").then((m) => m.default),
    agent: () => import("./commands/agent.ts").then((m) => m.default),
    release: () => import("./commands/release.ts").then((m) => m.default),
    install: () => import("./commands/install.ts").then((m) => m.install),
    uninstall: () => import("./commands/install.ts").then((m) => m.uninstall),
    health: () => import("./commands/health.ts").then((m) => m.default),
    archive: () => import("./commands/archive.ts").then((m) => m.default),
    export: () => import("./commands/transfer.ts").then((m) => m.exportCommand),
    import: () => import("./commands/transfer.ts").then((m) => m.importCommand),
  },
});

if (import.meta.main) await runCli(main, "relevo-server", VERSION);
