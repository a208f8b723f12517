// Windows: a Scheduled Task that starts the executable at boot as SYSTEM, nobody logged in.
//
// Why not a service: the Service Control Manager starts a service binary and waits for it to call
// StartServiceCtrlDispatcher and report SERVICE_RUNNING; a program that never talks to the SCM (a Bun
// executable does not) is killed after the start timeout (30 s, error 1053). A wrapper (NSSM, WinSW) would
// be a second download. Task Scheduler runs any program as SYSTEM at boot, and with a repeating trigger and
// "ignore new instance" it also starts it again within minutes if it ever exits.
import { win32 } from "node:path";
import { maskEnvFile, renderEnvFile } from "./env-file.ts";
import { type Plan, type Step, windowsArg } from "./plan.ts";
import type { Layout, ServiceSpec } from "./spec.ts";

/** Well-known SIDs, so the commands work whatever the system's language. */
const SID_SYSTEM = "*S-1-5-18";
const SID_ADMINISTRATORS = "*S-1-5-32-544";

interface WindowsRoots {
  /** %ProgramFiles%, normally C:\Program Files */
  programFiles: string;
  /** %ProgramData%, normally C:\ProgramData */
  programData: string;
}

export function windowsRoots(env: Record<string, string | undefined>): WindowsRoots {
  return {
    programFiles: env.ProgramFiles || env.PROGRAMFILES || "C:\\Program Files",
    programData: env.ProgramData || env.PROGRAMDATA || "C:\\ProgramData",
  };
}

const programDir = (roots: WindowsRoots) => win32.join(roots.programFiles, "relevo");
const dataRoot = (roots: WindowsRoots) => win32.join(roots.programData, "relevo");

export function windowsLayout(spec: Pick<ServiceSpec, "name" | "short">, roots: WindowsRoots): Layout {
  return {
    binary: win32.join(programDir(roots), `${spec.name}.exe`),
    stateDir: win32.join(dataRoot(roots), spec.short),
    secretsFile: win32.join(dataRoot(roots), `${spec.name}.env`),
  };
}

const taskXmlPath = (spec: Pick<ServiceSpec, "name">, roots: WindowsRoots) =>
  win32.join(dataRoot(roots), `${spec.name}.task.xml`);

function xmlEscape(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

function envFileFlag(spec: ServiceSpec): string {
  if (!spec.windows.envFileFlag)
    throw new Error(`${spec.name} has secrets but no flag to read them from a file`);
  return spec.windows.envFileFlag;
}

/** The task's command line after the executable: the spec's arguments, and the secrets file to read. */
export function taskArguments(spec: ServiceSpec, layout: Layout): string {
  const args = spec.args(layout.stateDir).map((arg) => (typeof arg === "string" ? arg : arg.file));
  // A task has no environment of its own: the executable reads its secrets from the protected file.
  if (spec.secrets.length) args.push(envFileFlag(spec), layout.secretsFile);
  return args.map(windowsArg).join(" ");
}

/** The task definition, in the schema Task Scheduler exports (version 1.2, Windows 7 / Server 2008 R2 on). */
export function taskXml(spec: ServiceSpec, roots: WindowsRoots, version: string): string {
  const layout = windowsLayout(spec, roots);
  const lines = [
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
    "  <RegistrationInfo>",
    `    <Description>${xmlEscape(`${spec.description}. Written by "${spec.name} install" (relevo ${version}); "${spec.name} uninstall" removes it.`)}</Description>`,
    `    <URI>\\${xmlEscape(spec.name)}</URI>`,
    "  </RegistrationInfo>",
    "  <Triggers>",
    "    <!-- At boot, before anyone logs in. -->",
    "    <BootTrigger>",
    "      <Enabled>true</Enabled>",
    "    </BootTrigger>",
    "    <!-- Every 5 minutes, forever: starts it again if it ever exited (a running one is left alone). -->",
    "    <TimeTrigger>",
    "      <Repetition>",
    "        <Interval>PT5M</Interval>",
    "        <StopAtDurationEnd>false</StopAtDurationEnd>",
    "      </Repetition>",
    "      <StartBoundary>2020-01-01T00:00:00</StartBoundary>",
    "      <Enabled>true</Enabled>",
    "    </TimeTrigger>",
    "  </Triggers>",
    "  <Principals>",
    '    <Principal id="Author">',
    "      <UserId>S-1-5-18</UserId>",
    "      <RunLevel>HighestAvailable</RunLevel>",
    "    </Principal>",
    "  </Principals>",
    "  <Settings>",
    "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>",
    "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>",
    "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>",
    "    <AllowHardTerminate>true</AllowHardTerminate>",
    "    <StartWhenAvailable>true</StartWhenAvailable>",
    "    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>",
    "    <IdleSettings>",
    "      <StopOnIdleEnd>false</StopOnIdleEnd>",
    "      <RestartOnIdle>false</RestartOnIdle>",
    "    </IdleSettings>",
    "    <AllowStartOnDemand>true</AllowStartOnDemand>",
    "    <Enabled>true</Enabled>",
    "    <Hidden>false</Hidden>",
    "    <RunOnlyIfIdle>false</RunOnlyIfIdle>",
    "    <WakeToRun>false</WakeToRun>",
    "    <!-- No time limit: the default (3 days) would stop a long-running program. -->",
    "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>",
    `    <Priority>${spec.windows.priority}</Priority>`,
    "    <RestartOnFailure>",
    "      <Interval>PT1M</Interval>",
    "      <Count>999</Count>",
    "    </RestartOnFailure>",
    "  </Settings>",
    '  <Actions Context="Author">',
    "    <Exec>",
    `      <Command>${xmlEscape(windowsArg(layout.binary))}</Command>`,
    `      <Arguments>${xmlEscape(taskArguments(spec, layout))}</Arguments>`,
    `      <WorkingDirectory>${xmlEscape(layout.stateDir)}</WorkingDirectory>`,
    "    </Exec>",
    "  </Actions>",
    "</Task>",
  ];
  return `${lines.join("\r\n")}\r\n`;
}

/** icacls arguments: only SYSTEM and Administrators, nothing inherited from ProgramData (where Users may write). */
function restrictAcl(path: string, inherit: boolean): string[] {
  const grant = inherit ? ":(OI)(CI)F" : ":F";
  return [
    "icacls",
    path,
    "/inheritance:r",
    "/grant:r",
    `${SID_SYSTEM}${grant}`,
    `${SID_ADMINISTRATORS}${grant}`,
  ];
}

export function windowsInstallPlan(
  spec: ServiceSpec,
  roots: WindowsRoots,
  sourceExe: string,
  version: string,
): Plan {
  const layout = windowsLayout(spec, roots);
  const xmlPath = taskXmlPath(spec, roots);
  const steps: Step[] = [
    {
      kind: "run",
      argv: ["schtasks", "/End", "/TN", spec.name],
      mayFail: true,
      why: "stop a running copy so its executable can be replaced",
    },
    {
      kind: "mkdir",
      path: programDir(roots),
      why: "where programs live; only Administrators may write there",
    },
    { kind: "copy", from: sourceExe, to: layout.binary, why: "a fixed path the task runs" },
    { kind: "mkdir", path: dataRoot(roots), why: "relevo's settings and data" },
    {
      kind: "run",
      argv: restrictAcl(dataRoot(roots), true),
      why: "only SYSTEM and Administrators, for everything created inside",
    },
    { kind: "mkdir", path: layout.stateDir, why: "the service's state (server data, agent spool)" },
  ];
  if (spec.secrets.length) {
    const content = renderEnvFile(
      Object.fromEntries(spec.secrets.map((secret) => [secret.env, secret.value])),
      `${spec.name} secrets, read at start (SYSTEM and Administrators only)`,
    ).replaceAll("\n", "\r\n");
    steps.push(
      {
        kind: "write",
        path: layout.secretsFile,
        content,
        shown: maskEnvFile(content),
        why: "the token, kept off the command line where every user could read it",
      },
      {
        kind: "run",
        argv: restrictAcl(layout.secretsFile, false),
        why: "the same restriction on the file itself",
      },
    );
  }
  steps.push(
    {
      kind: "write",
      path: xmlPath,
      content: taskXml(spec, roots, version),
      encoding: "utf16le",
      why: "the task definition",
    },
    {
      kind: "run",
      argv: ["schtasks", "/Create", "/TN", spec.name, "/XML", xmlPath, "/F"],
      why: "register the task (replacing an older one)",
    },
    {
      kind: "run",
      argv: ["schtasks", "/Run", "/TN", spec.name],
      why: "start it now, without waiting for a reboot",
    },
  );
  return {
    action: "install",
    service: spec.name,
    platform: "windows",
    steps,
    notes: [
      `status: schtasks /Query /TN ${spec.name} /V /FO LIST; or Get-ScheduledTask ${spec.name} | Get-ScheduledTaskInfo`,
      `state (server data, agent spool): ${layout.stateDir}; remove with ${spec.name} uninstall [--purge]`,
    ],
  };
}

export function windowsUninstallPlan(spec: ServiceSpec, roots: WindowsRoots, purge: boolean): Plan {
  const layout = windowsLayout(spec, roots);
  const steps: Step[] = [
    {
      kind: "run",
      argv: ["schtasks", "/End", "/TN", spec.name],
      mayFail: true,
      why: "stop the running program",
    },
    {
      kind: "run",
      argv: ["schtasks", "/Delete", "/TN", spec.name, "/F"],
      mayFail: true,
      why: "unregister the task",
    },
    { kind: "remove", path: taskXmlPath(spec, roots), why: "the task definition" },
    { kind: "remove", path: layout.secretsFile, why: "the secrets file" },
    {
      kind: "remove",
      path: layout.binary,
      why: "the installed executable (later, if it is the one running)",
    },
    { kind: "remove", path: programDir(roots), ifEmpty: true, why: "the program directory" },
  ];
  if (purge)
    steps.push({
      kind: "remove",
      path: layout.stateDir,
      recursive: true,
      why: "--purge: the service's data",
    });
  steps.push({ kind: "remove", path: dataRoot(roots), ifEmpty: true, why: "relevo's data directory" });
  return {
    action: "uninstall",
    service: spec.name,
    platform: "windows",
    steps,
    notes: purge ? [] : [`kept ${layout.stateDir} (the service's data): add --purge to remove it too`],
  };
}
