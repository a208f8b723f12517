import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { settingFlags } from "../../src/agent/commands/_args.ts";
import { agentSpec } from "../../src/agent/commands/install.ts";
import { agentPaths, type PathContext } from "../../src/agent/paths.ts";
import {
  type AgentSettings,
  MiB,
  parseSize,
  parseUploadUrl,
  readConfigFile,
  resolveSettings,
  type SettingsInput,
} from "../../src/agent/settings.ts";

const paths = { spoolDir: "/default/spool", configFile: "/default/agent.json" };
const config = (values: Record<string, unknown>) => ({ file: "/etc/relevo/agent.json", values });

function settings(input: Partial<SettingsInput>): AgentSettings {
  return resolveSettings({ flags: {}, env: {}, paths, cwd: "/work", ...input });
}

describe("resolveSettings", () => {
  // [what, input, the setting, expected]
  const cases: [string, Partial<SettingsInput>, keyof AgentSettings, unknown][] = [
    ["defaults: 300 s interval", {}, "intervalS", 300],
    ["defaults: 30 s timeout", {}, "timeoutS", 30],
    ["defaults: the platform's spool", {}, "spoolDir", "/default/spool"],
    ["defaults: 1,000 reports", {}, "spoolMaxReports", 1000],
    ["defaults: 100 MiB", {}, "spoolMaxBytes", 100 * MiB],
    ["defaults: command lines reported", {}, "commandLines", true],
    ["defaults: no token", {}, "token", undefined],
    ["config file alone", { config: config({ interval: 60 }) }, "intervalS", 60],
    [
      "env over config",
      { env: { RELEVO_INTERVAL: "90" }, config: config({ interval: 60 }) },
      "intervalS",
      90,
    ],
    [
      "flag over env and config",
      { flags: { interval: "30" }, env: { RELEVO_INTERVAL: "90" }, config: config({ interval: 60 }) },
      "intervalS",
      30,
    ],
    [
      "an empty env var counts as unset",
      { env: { RELEVO_INTERVAL: "" }, config: config({ interval: 60 }) },
      "intervalS",
      60,
    ],
    ["token from env", { env: { RELEVO_TOKEN: "env-token" } }, "token", "env-token"],
    [
      "token flag over env",
      { flags: { token: "flag-token" }, env: { RELEVO_TOKEN: "env-token" } },
      "token",
      "flag-token",
    ],
    ["token from config", { config: config({ token: "cfg" }) }, "token", "cfg"],
    ["spool flag, relative to cwd", { flags: { spool: "sp" } }, "spoolDir", resolve("/work", "sp")],
    ["spool env, relative to cwd", { env: { RELEVO_SPOOL: "sp" } }, "spoolDir", resolve("/work", "sp")],
    [
      "spool in config, relative to the file",
      { config: config({ spool: "sp" }) },
      "spoolDir",
      resolve("/etc/relevo", "sp"),
    ],
    ["ca from env", { env: { RELEVO_CA: "/etc/ca.pem" } }, "caFile", "/etc/ca.pem"],
    ["--no-command-lines", { flags: { noCommandLines: true } }, "commandLines", false],
    ["RELEVO_NO_COMMAND_LINES=1", { env: { RELEVO_NO_COMMAND_LINES: "1" } }, "commandLines", false],
    ["config no-command-lines", { config: config({ "no-command-lines": true }) }, "commandLines", false],
    [
      "explicit --command-lines beats the env",
      { flags: { noCommandLines: false }, env: { RELEVO_NO_COMMAND_LINES: "true" } },
      "commandLines",
      true,
    ],
    ["max bytes with a suffix", { env: { RELEVO_SPOOL_MAX_BYTES: "10M" } }, "spoolMaxBytes", 10 * MiB],
    ["max reports from config", { config: config({ "spool-max-reports": 5 }) }, "spoolMaxReports", 5],
    ["decimal seconds", { flags: { interval: "2.5" } }, "intervalS", 2.5],
    ["a null in config means the default", { config: config({ interval: null }) }, "intervalS", 300],
  ];
  for (const [what, input, key, want] of cases) {
    test(what, () => {
      expect(settings(input)[key]).toEqual(want as never);
    });
  }

  test("the URL comes from the flag before RELEVO_URL, and gets /upload", () => {
    const s = settings({ flags: { url: "http://flag:5000" }, env: { RELEVO_URL: "http://env:5000" } });
    expect(s.uploadUrl?.href).toBe("http://flag:5000/upload");
    expect(settings({ env: { RELEVO_URL: "http://env:5000" } }).uploadUrl?.href).toBe(
      "http://env:5000/upload",
    );
    expect(settings({}).uploadUrl).toBeUndefined();
  });

  // [input, the error names]
  const bad: [Partial<SettingsInput>, string][] = [
    [{ flags: { interval: "abc" } }, '--interval must be a number of seconds from 1 to 604800, got "abc"'],
    [{ flags: { interval: "0" } }, "--interval must be"],
    [{ env: { RELEVO_INTERVAL: "-5" } }, "RELEVO_INTERVAL must be"],
    [{ config: config({ interval: "soon" }) }, '"interval" in /etc/relevo/agent.json must be'],
    [{ config: config({ interval: [1] }) }, '"interval" in /etc/relevo/agent.json must be a string'],
    [{ flags: { spoolMaxReports: "1.5" } }, "--spool-max-reports must be a whole number"],
    [{ env: { RELEVO_SPOOL_MAX_BYTES: "lots" } }, "RELEVO_SPOOL_MAX_BYTES must be"],
    [{ env: { RELEVO_NO_COMMAND_LINES: "maybe" } }, "RELEVO_NO_COMMAND_LINES must be true or false"],
    [{ flags: { url: "ftp://server" } }, "--url must start with http:// or https://"],
    [{ env: { RELEVO_URL: "server:5000" } }, "RELEVO_URL must start with http:// or https://"],
    [{ flags: { url: "not a url" } }, "--url must be a URL like http://server:5000"],
    [{ flags: { token: "two words" } }, "--token must be one word"],
  ];
  for (const [input, message] of bad) {
    test(`refuses ${JSON.stringify(input.flags ?? input.env ?? input.config?.values)}`, () => {
      expect(() => settings(input)).toThrow(message);
    });
  }
});

describe("parseUploadUrl", () => {
  const cases: [string, string][] = [
    ["http://127.0.0.1:5000", "http://127.0.0.1:5000/upload"],
    ["http://127.0.0.1:5000/", "http://127.0.0.1:5000/upload"],
    ["https://inventory.example/relevo", "https://inventory.example/relevo/upload"],
    ["https://inventory.example/relevo/", "https://inventory.example/relevo/upload"],
    ["http://127.0.0.1:5000/upload", "http://127.0.0.1:5000/upload"],
    ["http://[::1]:5000", "http://[::1]:5000/upload"],
  ];
  for (const [input, want] of cases) {
    test(`${input} posts to ${want}`, () => expect(parseUploadUrl(input).href).toBe(want));
  }
  test("refuses credentials in the URL", () => {
    expect(() => parseUploadUrl("http://user:pw@host")).toThrow("--token");
  });
});

describe("parseSize", () => {
  const cases: [string, number][] = [
    ["1048576", MiB],
    ["512K", 512 * 1024],
    ["100M", 100 * MiB],
    ["100MiB", 100 * MiB],
    ["2G", 2 * 1024 * MiB],
  ];
  for (const [input, want] of cases) test(input, () => expect(parseSize(input)).toBe(want));
  test("rejects words", () => expect(parseSize("big")).toBeNaN());
});

describe("readConfigFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "relevo-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  test("a missing default file is no error", () => {
    expect(readConfigFile(join(dir, "none.json"), false)).toBeUndefined();
  });
  test("a missing file named by --config is", () => {
    expect(() => readConfigFile(join(dir, "none.json"), true)).toThrow("cannot read the config file");
  });
  test("reads the keys", () => {
    const file = join(dir, "ok.json");
    writeFileSync(file, JSON.stringify({ url: "http://a:1", interval: 10 }));
    expect(readConfigFile(file, true)?.values).toEqual({ url: "http://a:1", interval: 10 });
  });
  test("refuses a typo instead of ignoring it", () => {
    const file = join(dir, "typo.json");
    writeFileSync(file, JSON.stringify({ intervall: 10 }));
    expect(() => readConfigFile(file, true)).toThrow('unknown key "intervall"');
  });
  test("refuses broken JSON with the file's name", () => {
    const file = join(dir, "bad.json");
    writeFileSync(file, "{ url: ");
    expect(() => readConfigFile(file, false)).toThrow(`the config file ${file} is not valid JSON`);
  });
});

describe("agentPaths", () => {
  const cases: [string, PathContext, string, string][] = [
    [
      "Linux user with XDG",
      {
        platform: "linux",
        env: { XDG_STATE_HOME: "/x/state", XDG_CONFIG_HOME: "/x/cfg" },
        home: "/home/a",
        privileged: false,
      },
      "/x/state/relevo/spool",
      "/x/cfg/relevo/agent.json",
    ],
    [
      "Linux user without XDG",
      { platform: "linux", env: {}, home: "/home/a", privileged: false },
      "/home/a/.local/state/relevo/spool",
      "/home/a/.config/relevo/agent.json",
    ],
    [
      "Linux user with a relative XDG path (ignored)",
      { platform: "linux", env: { XDG_STATE_HOME: "rel" }, home: "/home/a", privileged: false },
      "/home/a/.local/state/relevo/spool",
      "/home/a/.config/relevo/agent.json",
    ],
    [
      "Linux root",
      { platform: "linux", env: {}, home: "/root", privileged: true },
      "/var/lib/relevo-agent/spool",
      "/etc/relevo/agent.json",
    ],
    [
      "systemd StateDirectory",
      { platform: "linux", env: { STATE_DIRECTORY: "/var/lib/relevo-agent" }, home: "/", privileged: false },
      "/var/lib/relevo-agent/spool",
      "/.config/relevo/agent.json",
    ],
    [
      "Windows SYSTEM",
      {
        platform: "win32",
        env: { ProgramData: "D:\\PD" },
        home: "C:\\Windows\\system32\\config\\systemprofile",
        privileged: true,
      },
      "D:\\PD\\relevo\\spool",
      "D:\\PD\\relevo\\agent.json",
    ],
    [
      "Windows user",
      {
        platform: "win32",
        env: { LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local", APPDATA: "C:\\Users\\a\\AppData\\Roaming" },
        home: "C:\\Users\\a",
        privileged: false,
      },
      "C:\\Users\\a\\AppData\\Local\\relevo\\spool",
      "C:\\Users\\a\\AppData\\Roaming\\relevo\\agent.json",
    ],
  ];
  for (const [what, ctx, spool, configFile] of cases) {
    test(what, () => expect(agentPaths(ctx)).toEqual({ spoolDir: spool, configFile }));
  }
});

describe("run and install read every setting the same way", () => {
  const host = { platform: "linux" as const, cwd: "/work", env: {} };
  /** What `run` makes of these flags: its settings, or the error it stops with. */
  const run = (flags: Record<string, string | boolean>) => {
    try {
      return {
        ok: true,
        settings: resolveSettings({ flags: settingFlags(flags), env: {}, paths, cwd: "/work" }),
      };
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
  };
  const install = (flags: Record<string, string | boolean>) => {
    try {
      return {
        ok: true,
        argv: agentSpec({ url: "http://inv:5000", ...flags }, host).args("/var/lib/relevo-agent"),
      };
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
  };
  const cases: Array<Record<string, string | boolean>> = [
    { url: "http://user:pw@inv:5000" },
    { url: "http://inv:5000/#x" },
    { url: "ftp://inv/" },
    { url: "https://inv/relevo/" },
    { interval: "1" },
    { interval: "5" },
    { interval: "604800" },
    { interval: "604801" },
    { interval: "0" },
    { interval: "1.5" },
    { timeout: "0" },
    { timeout: "3600" },
    { "spool-max-bytes": "100M" },
    { "spool-max-bytes": "1K" },
    { "spool-max-reports": "0" },
    { token: "two words" },
    { token: "rlv_abc" },
    { "command-lines": false },
  ];
  for (const flags of cases) {
    test(JSON.stringify(flags), () => {
      const ran = run({ url: "http://inv:5000", ...flags });
      const installed = install(flags);
      expect(installed.ok).toBe(ran.ok);
      if (!ran.ok) {
        expect(installed.message).toBe(ran.message as string);
        return;
      }
      // The installed service's own command line starts: `run` accepts every flag install wrote.
      const argv = installed.argv ?? [];
      const written: Record<string, string | boolean> = {};
      for (let i = 1; i < argv.length; i++) {
        const flag = String(argv[i]).replace(/^--/, "");
        if (flag === "no-command-lines") written["command-lines"] = false;
        else written[flag] = String(argv[++i]);
      }
      const service = run(written);
      expect(service.ok).toBe(true);
      expect({ ...service.settings, spoolDir: "", token: undefined }).toEqual({
        ...ran.settings,
        spoolDir: "",
        token: undefined,
      } as never);
    });
  }
});
