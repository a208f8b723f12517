// Linux: a hardened systemd unit, its secrets in a 0600 EnvironmentFile, the executable in /usr/local/bin.
import { posix } from "node:path";
import { maskEnvFile, renderEnvFile } from "./env-file.ts";
import type { Plan, Step } from "./plan.ts";
import type { Arg, Layout, ServiceSpec } from "./spec.ts";

const LINUX_BIN_DIR = "/usr/local/bin";
const LINUX_ETC_DIR = "/etc/relevo";

function linuxLayout(name: string): Layout {
  return {
    binary: posix.join(LINUX_BIN_DIR, name),
    stateDir: posix.join("/var/lib", name),
    secretsFile: posix.join(LINUX_ETC_DIR, `${name}.env`),
  };
}

const unitPath = (name: string) => `/etc/systemd/system/${name}.service`;
const updateServicePath = (name: string) => `/etc/systemd/system/${name}-update.service`;
const updatePathUnitPath = (name: string) => `/etc/systemd/system/${name}-update.path`;

/** Where the state directory really is: DynamicUser= keeps it under /var/lib/private (a symlink elsewhere). */
function realStateDir(spec: ServiceSpec): string {
  return spec.linux.user === "dynamic"
    ? posix.join("/var/lib/private", spec.name)
    : linuxLayout(spec.name).stateDir;
}

/** The .path unit: a staged update (update/ready in the state directory) starts the root oneshot. */
export function updatePathUnit(spec: ServiceSpec, version: string): string {
  return `${[
    `# Written by \`${spec.name} install\` (relevo ${version}); \`${spec.name} uninstall\` removes it.`,
    "[Unit]",
    `Description=${spec.description}: watch for a staged, signed update`,
    "",
    "[Path]",
    `PathExists=${posix.join(realStateDir(spec), "update", "ready")}`,
    `Unit=${spec.name}-update.service`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ].join("\n")}\n`;
}

/**
 * The root oneshot: verifies the staged file's signature again (the service that staged it is not
 * trusted to have done so), renames it over the executable (atomic; writing into a running executable
 * fails with ETXTBSY), restarts the service and puts the previous executable back if the new one
 * delivers no report within 10 minutes.
 */
export function updateServiceUnit(spec: ServiceSpec, version: string): string {
  const layout = linuxLayout(spec.name);
  const args = spec.linux.updateUnit?.args(realStateDir(spec)) ?? [];
  return `${[
    `# Written by \`${spec.name} install\` (relevo ${version}); \`${spec.name} uninstall\` removes it.`,
    "[Unit]",
    `Description=${spec.description}: verify and install a staged update`,
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=${[layout.binary, ...args].map(systemdArg).join(" ")}`,
    "# The trial of the new version (up to 10 minutes) runs inside this start.",
    "TimeoutStartSec=15min",
    "# Root, for the rename in /usr/local/bin and systemctl restart; nothing else.",
    "NoNewPrivileges=yes",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "RestrictAddressFamilies=AF_UNIX",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
  ].join("\n")}\n`;
}
const sysusersPath = (name: string) => `/etc/sysusers.d/${name}.conf`;

/**
 * One ExecStart= word. systemd expands `%` specifiers and `$VAR` in ExecStart, so both are doubled, and a
 * word with spaces, quotes or backslashes is double-quoted with C-style escapes.
 */
export function systemdArg(arg: string): string {
  const escaped = arg.replaceAll("%", "%%").replaceAll("$", "$$$$");
  if (/^[A-Za-z0-9_@%+=:,./$-]+$/.test(escaped)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

function credentialName(name: string): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`Bad credential name "${name}"`);
  return name;
}

/** ExecStart= and the LoadCredential= lines that hand files to the service. */
function commandLines(spec: ServiceSpec, layout: Layout): { exec: string; credentials: string[] } {
  const words: string[] = [systemdArg(layout.binary)];
  const credentials: string[] = [];
  for (const arg of spec.args(layout.stateDir) as Arg[]) {
    if (typeof arg === "string") {
      words.push(systemdArg(arg));
    } else {
      const name = credentialName(arg.name);
      if (/[\s:\\]/.test(arg.file))
        throw new Error(`The path ${arg.file} cannot be a systemd credential source`);
      credentials.push(`LoadCredential=${name}:${arg.file}`);
      // %d is the service's credentials directory, readable only by the service.
      words.push(`%d/${name}`);
    }
  }
  return { exec: words.join(" "), credentials };
}

/** The unit file's text. */
export function systemdUnit(spec: ServiceSpec, version: string): string {
  const layout = linuxLayout(spec.name);
  const { exec, credentials } = commandLines(spec, layout);
  const { linux } = spec;
  const identity =
    linux.user === "dynamic"
      ? [
          "# A user made by systemd for each start, with no files outside its state directory.",
          "DynamicUser=yes",
        ]
      : [
          `# Its own system user (from ${sysusersPath(spec.name)}), so an admin can act as it (sudo -u ${spec.name}).`,
          `User=${spec.name}`,
          `Group=${spec.name}`,
        ];
  const caps = linux.capabilities.join(" ");
  const lines = [
    `# Written by \`${spec.name} install\` (relevo ${version}); \`${spec.name} uninstall\` removes it.`,
    "[Unit]",
    `Description=${spec.description}`,
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${exec}`,
    ...(linux.updateUnit
      ? [
          `# Verified updates are staged for ${spec.name}-update.service (root), never installed from here.`,
          "Environment=RELEVO_UPDATE_VIA=path-unit",
        ]
      : []),
    ...(spec.secrets.length ? [`EnvironmentFile=${layout.secretsFile}`] : []),
    ...credentials,
    "Restart=on-failure",
    "RestartSec=10s",
    "# SIGTERM: stop accepting, finish what is in flight, exit 0.",
    "TimeoutStopSec=60s",
    ...identity,
    `StateDirectory=${spec.name}`,
    "StateDirectoryMode=0700",
    "UMask=0077",
    caps ? `# Keeps only: ${caps}.` : "# No capabilities at all.",
    `CapabilityBoundingSet=${caps}`,
    `AmbientCapabilities=${caps}`,
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ProtectHome=${linux.protectHome}`,
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    `RestrictAddressFamilies=${linux.addressFamilies.join(" ")}`,
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RemoveIPC=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallErrorNumber=EPERM",
    "# Not MemoryDenyWriteExecute=: the JavaScript JIT needs memory it writes and then runs.",
    ...linux.extra,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ];
  return `${lines.join("\n")}\n`;
}

/** systemd-sysusers line for a fixed system user whose home is the state directory. */
function sysusersConf(spec: ServiceSpec): string {
  return `u ${spec.name} - "${spec.description}" ${linuxLayout(spec.name).stateDir} /usr/sbin/nologin\n`;
}

export function linuxInstallPlan(spec: ServiceSpec, sourceExe: string, version: string): Plan {
  const layout = linuxLayout(spec.name);
  const unit = `${spec.name}.service`;
  const steps: Step[] = [
    {
      kind: "copy",
      from: sourceExe,
      to: layout.binary,
      mode: 0o755,
      why: "a fixed path the unit runs, outside any home directory (the unit hides /home)",
    },
  ];
  if (spec.linux.user === "system") {
    steps.push(
      {
        kind: "write",
        path: sysusersPath(spec.name),
        content: sysusersConf(spec),
        mode: 0o644,
        why: "declares the service's system user",
      },
      {
        kind: "run",
        argv: ["systemd-sysusers", sysusersPath(spec.name)],
        why: "creates that user if missing",
      },
    );
  }
  if (spec.secrets.length) {
    const content = renderEnvFile(
      Object.fromEntries(spec.secrets.map((secret) => [secret.env, secret.value])),
      `${spec.name} secrets, read by systemd as root (mode 0600)`,
    );
    steps.push(
      { kind: "mkdir", path: LINUX_ETC_DIR, mode: 0o755, why: "relevo's configuration directory" },
      {
        kind: "write",
        path: layout.secretsFile,
        content,
        shown: maskEnvFile(content),
        mode: 0o600,
        why: "the token, kept off the command line where every user could read it",
      },
    );
  }
  steps.push({
    kind: "write",
    path: unitPath(spec.name),
    content: systemdUnit(spec, version),
    mode: 0o644,
    why: "the unit",
  });
  if (spec.linux.updateUnit) {
    steps.push(
      {
        kind: "write",
        path: updateServicePath(spec.name),
        content: updateServiceUnit(spec, version),
        mode: 0o644,
        why: "the root oneshot that verifies and installs a staged update",
      },
      {
        kind: "write",
        path: updatePathUnitPath(spec.name),
        content: updatePathUnit(spec, version),
        mode: 0o644,
        why: "starts that oneshot when the agent stages a verified update",
      },
    );
  }
  steps.push(
    { kind: "run", argv: ["systemctl", "daemon-reload"], why: "systemd reads the new unit" },
    { kind: "run", argv: ["systemctl", "enable", unit], why: "start at boot" },
    ...(spec.linux.updateUnit
      ? [
          {
            kind: "run" as const,
            argv: ["systemctl", "enable", "--now", `${spec.name}-update.path`],
            why: "watch for staged updates",
          },
        ]
      : []),
    {
      kind: "run",
      argv: ["systemctl", "restart", unit],
      why: "start now (or restart with the new settings)",
    },
  );
  return {
    action: "install",
    service: spec.name,
    platform: "linux",
    steps,
    notes: [
      `status: systemctl status ${unit}; logs: journalctl -u ${unit} -f`,
      `state (server data, agent spool): ${layout.stateDir}; remove with ${spec.name} uninstall [--purge]`,
    ],
  };
}

export function linuxUninstallPlan(spec: ServiceSpec, purge: boolean): Plan {
  const layout = linuxLayout(spec.name);
  const unit = `${spec.name}.service`;
  const steps: Step[] = [
    {
      kind: "run",
      argv: ["systemctl", "disable", "--now", unit],
      mayFail: true,
      why: "stop it, no start at boot",
    },
    { kind: "remove", path: unitPath(spec.name), why: "the unit" },
    ...(spec.linux.updateUnit
      ? [
          {
            kind: "run" as const,
            argv: ["systemctl", "disable", "--now", `${spec.name}-update.path`],
            mayFail: true,
            why: "stop watching for updates",
          },
          { kind: "remove" as const, path: updatePathUnitPath(spec.name), why: "the update .path unit" },
          { kind: "remove" as const, path: updateServicePath(spec.name), why: "the update oneshot" },
        ]
      : []),
    { kind: "run", argv: ["systemctl", "daemon-reload"], mayFail: true, why: "systemd forgets the unit" },
    { kind: "run", argv: ["systemctl", "reset-failed", unit], mayFail: true, why: "forget its last state" },
    { kind: "remove", path: layout.secretsFile, why: "the secrets file" },
    { kind: "remove", path: LINUX_ETC_DIR, ifEmpty: true, why: "relevo's configuration directory" },
    { kind: "remove", path: layout.binary, why: "the installed executable" },
  ];
  if (spec.linux.user === "system")
    steps.push({ kind: "remove", path: sysusersPath(spec.name), why: "the user's declaration" });
  if (purge) {
    steps.push(
      { kind: "remove", path: layout.stateDir, recursive: true, why: "--purge: the service's data" },
      // DynamicUser= keeps the real directory here and a symlink at /var/lib/<name>.
      {
        kind: "remove",
        path: posix.join("/var/lib/private", spec.name),
        recursive: true,
        why: "--purge: the same, for a dynamic user",
      },
    );
    if (spec.linux.user === "system") {
      steps.push({
        kind: "run",
        argv: ["userdel", spec.name],
        mayFail: true,
        why: "--purge: the service's user",
      });
    }
  }
  return {
    action: "uninstall",
    service: spec.name,
    platform: "linux",
    steps,
    notes: purge ? [] : [`kept ${layout.stateDir} (the service's data): add --purge to remove it too`],
  };
}
