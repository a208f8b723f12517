// The install plans as text: the systemd unit, the Task Scheduler XML, the Windows command lines and their
// quoting, the secrets file, --print. Pure functions, so both platforms are checked on any machine.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { agentSpec } from "../../src/agent/commands/install.ts";
import { serverSpec } from "../../src/server/commands/install.ts";
import { maskEnvFile, parseEnvFile, renderEnvFile } from "../../src/shared/service/env-file.ts";
import { executePlan } from "../../src/shared/service/execute.ts";
import { type Plan, renderPlan, windowsArg, windowsCommandLine } from "../../src/shared/service/plan.ts";
import { isCompiled, planInstall, planUninstall } from "../../src/shared/service/platform.ts";
import { systemdArg, systemdUnit } from "../../src/shared/service/systemd.ts";
import { taskArguments, taskXml, windowsLayout, windowsRoots } from "../../src/shared/service/windows.ts";

const linux = (cwd: string, env: Record<string, string> = {}) => ({ platform: "linux" as const, cwd, env });
const TOKEN = "rlv_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo";
const agent = agentSpec(
  { url: "http://inventory.example:5000/", token: TOKEN, interval: "60" },
  linux("/root", {}),
);
const server = serverSpec({ host: "0.0.0.0", port: "5000" }, linux("/root"));
const linuxHost = {
  platform: "linux" as const,
  env: {},
  execPath: "/home/ann/Downloads/relevo-agent-linux-x64",
  cwd: "/home/ann",
  version: "1.2.3",
};
const windowsHost = {
  platform: "win32" as const,
  env: { ProgramFiles: "C:\\Program Files", ProgramData: "C:\\ProgramData" },
  execPath: "C:\\Users\\Ann Lee\\Downloads\\relevo-agent-windows-x64.exe",
  cwd: "C:\\Users\\Ann Lee",
  version: "1.2.3",
};

/** CommandLineToArgvW's rules (as the MSVC runtime and Bun read a command line), for round trips. */
function parseWindowsCommandLine(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === " " || line[i] === "\t") i++;
    if (i >= line.length) break;
    let arg = "";
    let quoted = false;
    for (; i < line.length; i++) {
      const ch = line[i];
      if (!quoted && (ch === " " || ch === "\t")) break;
      if (ch === "\\") {
        let n = 0;
        while (line[i] === "\\") {
          n++;
          i++;
        }
        if (line[i] === '"') {
          arg += "\\".repeat(Math.floor(n / 2));
          if (n % 2) arg += '"';
          else quoted = !quoted;
        } else {
          arg += "\\".repeat(n);
          i--;
        }
        continue;
      }
      if (ch === '"') {
        if (quoted && line[i + 1] === '"') {
          arg += '"';
          i++;
        } else quoted = !quoted;
        continue;
      }
      arg += ch;
    }
    args.push(arg);
  }
  return args;
}

/** Every element closed in order: enough to catch a broken template (no XML parser in the runtime). */
function wellFormed(xml: string): boolean {
  const stack: string[] = [];
  const body = xml.replace(/<\?xml[^>]*\?>/, "").replace(/<!--[\s\S]*?-->/g, "");
  for (const [, close, name, selfClose] of body.matchAll(/<(\/?)([A-Za-z]+)[^>]*?(\/?)>/g)) {
    if (selfClose) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name as string);
  }
  return stack.length === 0 && !/&(?!amp;|lt;|gt;|quot;|apos;)/.test(body);
}

describe("systemdArg", () => {
  const cases: [string, string][] = [
    ["/usr/local/bin/relevo-agent", "/usr/local/bin/relevo-agent"],
    ["http://inv:5000/?a=1&b=2", '"http://inv:5000/?a=1&b=2"'],
    ["/srv/my data", '"/srv/my data"'],
    ["50%", "50%%"],
    ["$HOME", "$$HOME"],
    ['say "hi"\\', '"say \\"hi\\"\\\\"'],
  ];
  for (const [input, want] of cases)
    test(`quotes ${JSON.stringify(input)}`, () => expect(systemdArg(input)).toBe(want));
});

describe("windowsArg", () => {
  const cases: [string, string][] = [
    ["run", "run"],
    ["C:\\ProgramData\\relevo\\agent", "C:\\ProgramData\\relevo\\agent"],
    ["C:\\Program Files\\relevo\\relevo-agent.exe", '"C:\\Program Files\\relevo\\relevo-agent.exe"'],
    ["C:\\dir with space\\", '"C:\\dir with space\\\\"'],
    ['a"b', '"a\\"b"'],
    ["", '""'],
  ];
  for (const [input, want] of cases)
    test(`quotes ${JSON.stringify(input)}`, () => expect(windowsArg(input)).toBe(want));

  test("reads back as the same arguments, whatever they hold", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: fc.constantFrom("a", " ", "\\", '"', "\t", "é", ":") }), { minLength: 1 }),
        (args) => {
          expect(parseWindowsCommandLine(args.map(windowsArg).join(" "))).toEqual(args);
        },
      ),
    );
  });

  test("display quotes what PowerShell would read as code", () => {
    expect(windowsCommandLine(["icacls", "C:\\Program Files\\x", "*S-1-5-18:(OI)(CI)F"])).toBe(
      'icacls "C:\\Program Files\\x" "*S-1-5-18:(OI)(CI)F"',
    );
  });
});

describe("the agent's systemd unit", () => {
  const unit = systemdUnit(agent, "1.2.3");
  const lines = unit.split("\n");
  for (const line of [
    "ExecStart=/usr/local/bin/relevo-agent run --url http://inventory.example:5000/ --interval 60 --spool /var/lib/relevo-agent",
    "EnvironmentFile=/etc/relevo/relevo-agent.env",
    "Restart=on-failure",
    "DynamicUser=yes",
    "StateDirectory=relevo-agent",
    "CapabilityBoundingSet=CAP_DAC_READ_SEARCH",
    "AmbientCapabilities=CAP_DAC_READ_SEARCH",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "WantedBy=multi-user.target",
  ]) {
    test(`has ${line}`, () => expect(lines).toContain(line));
  }
  test("never carries the token", () => expect(unit).not.toContain(TOKEN));
  test("keeps the JIT working (no MemoryDenyWriteExecute)", () =>
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute/m));

  test("hands a CA file over as a credential", () => {
    const withCa = systemdUnit(
      agentSpec({ url: "https://inv/", ca: "certs/ca.pem" }, linux("/etc/relevo", {})),
      "1",
    );
    expect(withCa).toContain("LoadCredential=ca:/etc/relevo/certs/ca.pem");
    expect(withCa).toMatch(/^ExecStart=.* --ca %d\/ca /m);
    expect(withCa).not.toContain("EnvironmentFile=");
  });

  test("--no-command-lines is carried", () => {
    const spec = agentSpec({ url: "http://inv/", "command-lines": false }, linux("/", {}));
    expect(systemdUnit(spec, "1")).toContain(" --no-command-lines ");
  });

  test("takes the token from RELEVO_TOKEN when --token is not given", () => {
    expect(agentSpec({ url: "http://inv/" }, linux("/", { RELEVO_TOKEN: TOKEN })).secrets).toEqual([
      { env: "RELEVO_TOKEN", value: TOKEN },
    ]);
  });
});

describe("the server's systemd unit", () => {
  const unit = systemdUnit(server, "1.2.3");
  test("runs serve on the state directory as its own user", () => {
    expect(unit).toContain(
      "ExecStart=/usr/local/bin/relevo-server serve --host 0.0.0.0 --port 5000 --data /var/lib/relevo-server\n",
    );
    expect(unit).toContain("User=relevo-server\n");
    expect(unit).toContain("StateDirectory=relevo-server\n");
    expect(unit).toContain("ProtectHome=yes\n");
  });
  test("keeps no capability on a high port, only CAP_NET_BIND_SERVICE below 1024", () => {
    expect(unit).toContain("CapabilityBoundingSet=\n");
    const low = systemdUnit(serverSpec({ host: "0.0.0.0", port: "443" }, linux("/")), "1");
    expect(low).toContain("CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n");
  });
  test("passes TLS files as credentials", () => {
    const tls = systemdUnit(
      serverSpec({ "tls-cert": "/etc/ssl/inv.pem", "tls-key": "/etc/ssl/inv.key" }, linux("/")),
      "1",
    );
    expect(tls).toContain("--tls-cert %d/tls-cert --tls-key %d/tls-key\n");
    expect(tls).toContain("LoadCredential=tls-key:/etc/ssl/inv.key\n");
  });
});

const verify = Bun.which("systemd-analyze");
describe.skipIf(!verify)("systemd-analyze verify", () => {
  test("finds nothing wrong in either unit but the executable not being installed here", () => {
    const dir = mkdtempSync(join(tmpdir(), "relevo-units-"));
    for (const spec of [agent, server])
      writeFileSync(join(dir, `${spec.name}.service`), systemdUnit(spec, "1.2.3"));
    const result = Bun.spawnSync(
      [
        verify as string,
        "verify",
        "--man=no",
        join(dir, "relevo-agent.service"),
        join(dir, "relevo-server.service"),
      ],
      {
        stderr: "pipe",
        stdout: "pipe",
      },
    );
    const complaints = `${result.stderr}${result.stdout}`
      .split("\n")
      .filter((line) => line.trim() && !/is not executable: No such file/.test(line));
    expect(complaints).toEqual([]);
  });
});

describe("the Windows task", () => {
  const roots = windowsRoots(windowsHost.env);
  const xml = taskXml(agent, roots, "1.2.3");
  test("is well-formed, in CRLF lines", () => {
    expect(wellFormed(xml)).toBe(true);
    expect(xml.split("\r\n").length).toBeGreaterThan(40);
  });
  test("runs as SYSTEM at boot, for ever, restarting", () => {
    expect(xml).toContain("<UserId>S-1-5-18</UserId>");
    expect(xml).toContain("<BootTrigger>");
    expect(xml).toContain("<ExecutionTimeLimit>PT0S</ExecutionTimeLimit>");
    expect(xml).toContain("<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>");
    expect(xml).toContain("<Interval>PT5M</Interval>");
    expect(xml).toContain("<DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>");
  });
  test("quotes the executable's path, which has a space", () => {
    expect(xml).toContain("<Command>&quot;C:\\Program Files\\relevo\\relevo-agent.exe&quot;</Command>");
  });
  test("passes the settings and the secrets file, never the token", () => {
    expect(xml).toContain(
      "<Arguments>run --url http://inventory.example:5000/ --interval 60 --spool C:\\ProgramData\\relevo\\agent --env-file C:\\ProgramData\\relevo\\relevo-agent.env</Arguments>",
    );
    expect(xml).not.toContain(TOKEN);
  });
  test("quotes and escapes in the arguments: spaces, quotes, &", () => {
    const odd = windowsRoots({ ProgramFiles: "D:\\Apps & Tools", ProgramData: "D:\\Program Data" });
    const spec = agentSpec(
      { url: "http://inv/?a=1&b=2", ca: "D:\\My Certs\\ca.pem" },
      { platform: "win32", cwd: "C:\\", env: {} },
    );
    const args = taskArguments(spec, windowsLayout(spec, odd));
    expect(parseWindowsCommandLine(args)).toEqual([
      "run",
      "--url",
      "http://inv/?a=1&b=2",
      "--ca",
      "D:\\My Certs\\ca.pem",
      "--spool",
      "D:\\Program Data\\relevo\\agent",
    ]);
    const text = taskXml(spec, odd, "1");
    expect(wellFormed(text)).toBe(true);
    expect(text).toContain("<Command>&quot;D:\\Apps &amp; Tools\\relevo\\relevo-agent.exe&quot;</Command>");
    expect(text).toContain("<WorkingDirectory>D:\\Program Data\\relevo\\agent</WorkingDirectory>");
  });
  test("the server's task serves its ProgramData folder at normal priority", () => {
    const text = taskXml(server, roots, "1");
    expect(text).toContain(
      "<Arguments>serve --host 0.0.0.0 --port 5000 --data C:\\ProgramData\\relevo\\server</Arguments>",
    );
    expect(text).toContain("<Priority>5</Priority>");
    expect(text).not.toContain("--env-file");
  });
});

describe("the Windows install plan", () => {
  const plan = planInstall(agent, windowsHost);
  const text = renderPlan(plan);
  const runs = plan.steps.flatMap((step) => (step.kind === "run" ? [step.argv.join(" ")] : []));
  test("restricts relevo's data folder before the secrets file is written into it", () => {
    const acl = plan.steps.findIndex(
      (s) => s.kind === "run" && s.argv[0] === "icacls" && s.argv[1] === "C:\\ProgramData\\relevo",
    );
    const secrets = plan.steps.findIndex((s) => s.kind === "write" && s.path.endsWith(".env"));
    expect(acl).toBeGreaterThan(-1);
    expect(secrets).toBeGreaterThan(acl);
    expect(runs).toContain(
      "icacls C:\\ProgramData\\relevo /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F",
    );
    expect(runs).toContain(
      "icacls C:\\ProgramData\\relevo\\relevo-agent.env /inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F",
    );
  });
  test("registers the task from its XML, written as UTF-16, and starts it", () => {
    const xml = plan.steps.find((s) => s.kind === "write" && s.path.endsWith(".task.xml"));
    expect(xml?.kind === "write" && xml.encoding).toBe("utf16le");
    expect(runs).toContain(
      "schtasks /Create /TN relevo-agent /XML C:\\ProgramData\\relevo\\relevo-agent.task.xml /F",
    );
    expect(runs.at(-1)).toBe("schtasks /Run /TN relevo-agent");
  });
  test("--print quotes paths with spaces and icacls grants for PowerShell, and hides the token", () => {
    expect(text).toContain("copy C:\\Users\\Ann Lee\\Downloads\\relevo-agent-windows-x64.exe");
    expect(text).toContain(
      'run: icacls C:\\ProgramData\\relevo /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F"',
    );
    expect(text).toContain("RELEVO_TOKEN=********");
    expect(text).not.toContain(TOKEN);
  });
  test("uninstall removes the task and every file, and the data only with --purge", () => {
    const kept = planUninstall(agent, windowsHost, false);
    const removed = kept.steps.flatMap((s) => (s.kind === "remove" ? [s.path] : []));
    expect(removed).toContain("C:\\Program Files\\relevo\\relevo-agent.exe");
    expect(removed).toContain("C:\\ProgramData\\relevo\\relevo-agent.env");
    expect(removed).toContain("C:\\ProgramData\\relevo\\relevo-agent.task.xml");
    expect(removed).not.toContain("C:\\ProgramData\\relevo\\agent");
    expect(
      kept.steps.some((s) => s.kind === "run" && s.argv.join(" ") === "schtasks /Delete /TN relevo-agent /F"),
    ).toBe(true);
    const purged = planUninstall(agent, windowsHost, true);
    expect(purged.steps).toContainEqual(
      expect.objectContaining({ kind: "remove", path: "C:\\ProgramData\\relevo\\agent", recursive: true }),
    );
  });
});

describe("the Linux install plan", () => {
  const plan = planInstall(agent, linuxHost);
  test("copies the executable to /usr/local/bin and writes the token 0600", () => {
    expect(plan.steps[0]).toMatchObject({
      kind: "copy",
      from: linuxHost.execPath,
      to: "/usr/local/bin/relevo-agent",
      mode: 0o755,
    });
    expect(plan.steps).toContainEqual(
      expect.objectContaining({ kind: "write", path: "/etc/relevo/relevo-agent.env", mode: 0o600 }),
    );
  });
  test("enables and (re)starts the unit", () => {
    const runs = plan.steps.flatMap((s) => (s.kind === "run" ? [s.argv.join(" ")] : []));
    expect(runs).toEqual([
      "systemctl daemon-reload",
      "systemctl enable relevo-agent.service",
      "systemctl enable --now relevo-agent-update.path",
      "systemctl restart relevo-agent.service",
    ]);
  });
  test("the server declares its user with systemd-sysusers", () => {
    const runs = planInstall(server, linuxHost).steps.flatMap((s) =>
      s.kind === "run" ? [s.argv.join(" ")] : [],
    );
    expect(runs[0]).toBe("systemd-sysusers /etc/sysusers.d/relevo-server.conf");
  });
  test("--print hides the token", () => {
    const text = renderPlan(plan);
    expect(text).toContain("RELEVO_TOKEN=********");
    expect(text).not.toContain(TOKEN);
    expect(text).toContain("Printed only: nothing was written or run.");
  });
  test("uninstall keeps the data unless --purge", () => {
    const paths = (p: Plan) => p.steps.flatMap((s) => (s.kind === "remove" ? [s.path] : []));
    expect(paths(planUninstall(server, linuxHost, false))).not.toContain("/var/lib/relevo-server");
    expect(paths(planUninstall(server, linuxHost, true))).toContain("/var/lib/relevo-server");
    expect(paths(planUninstall(server, linuxHost, false))).toEqual(
      expect.arrayContaining([
        "/etc/systemd/system/relevo-server.service",
        "/usr/local/bin/relevo-server",
        "/etc/sysusers.d/relevo-server.conf",
      ]),
    );
  });
  test("other platforms are refused with a clear message", () => {
    expect(() => planInstall(agent, { ...linuxHost, platform: "darwin" })).toThrow(
      /Linux \(systemd\) and Windows, not on darwin/,
    );
  });
});

describe("install flags", () => {
  test("the agent needs --url", () => expect(() => agentSpec({}, linux("/", {}))).toThrow(/needs --url/));
  test("the agent refuses a URL that is not http(s)", () =>
    expect(() => agentSpec({ url: "ftp://x/" }, linux("/", {}))).toThrow(/http/));
  test("the agent refuses a silly interval", () =>
    expect(() => agentSpec({ url: "http://x/", interval: "0" }, linux("/", {}))).toThrow(/--interval/));
  test("the server wants both TLS files", () =>
    expect(() => serverSpec({ "tls-cert": "a.pem" }, linux("/"))).toThrow(/go together/));
  test("the server refuses a bad port", () =>
    expect(() => serverSpec({ port: "70000" }, linux("/"))).toThrow(/--port/));
});

describe("the secrets file", () => {
  test("reads back what was written, and masks it for --print", () => {
    const text = renderEnvFile({ RELEVO_TOKEN: TOKEN }, "header");
    expect(parseEnvFile(text)).toEqual({ RELEVO_TOKEN: TOKEN });
    expect(parseEnvFile(text.replaceAll("\n", "\r\n"))).toEqual({ RELEVO_TOKEN: TOKEN });
    expect(maskEnvFile(text)).not.toContain(TOKEN);
  });
  for (const bad of ["two words", "line\nbreak", "", "#hash", '"quoted'])
    test(`refuses the value ${JSON.stringify(bad)}`, () =>
      expect(() => renderEnvFile({ RELEVO_TOKEN: bad }, "h")).toThrow());
});

describe.skipIf(process.platform === "win32")("executePlan (POSIX modes and commands)", () => {
  test("writes with the mode, copies, removes, and names the step that failed", () => {
    const dir = mkdtempSync(join(tmpdir(), "relevo-exec-"));
    writeFileSync(join(dir, "exe"), "binary");
    const plan: Plan = {
      action: "install",
      service: "relevo-test",
      platform: "linux",
      notes: [],
      steps: [
        { kind: "mkdir", path: join(dir, "etc"), mode: 0o755, why: "dir" },
        {
          kind: "write",
          path: join(dir, "etc", "secret.env"),
          content: "RELEVO_TOKEN=x\n",
          mode: 0o600,
          why: "secret",
        },
        { kind: "copy", from: join(dir, "exe"), to: join(dir, "bin"), mode: 0o755, why: "copy" },
        { kind: "remove", path: join(dir, "etc"), ifEmpty: true, why: "not empty: kept" },
        { kind: "run", argv: ["false"], mayFail: true, why: "may fail" },
        { kind: "run", argv: ["sh", "-c", "echo nope >&2; exit 3"], why: "the failing one" },
      ],
    };
    const log: string[] = [];
    expect(() => executePlan(plan, { log: (line) => log.push(line) })).toThrow(
      "relevo-test install stopped at step 6 of 6 (the failing one): `sh -c echo nope >&2; exit 3` failed (exit 3): nope",
    );
    expect(statSync(join(dir, "etc", "secret.env")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "bin")).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(dir, "bin"), "utf8")).toBe("binary");
    expect(statSync(join(dir, "etc")).isDirectory()).toBe(true);
    expect(log).toContain("ran false (exit 1, ignored)");
  });
});

test("isCompiled tells a compiled executable from Bun running the sources", () => {
  expect(isCompiled("/$bunfs/root/relevo-agent-linux-x64")).toBe(true);
  expect(isCompiled("B:/~BUN/root/relevo-agent-windows-x64.exe")).toBe(true);
  expect(isCompiled("/work/relevo/src/agent/cli.ts")).toBe(false);
});
