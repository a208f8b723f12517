import { describe, expect, test } from "bun:test";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { serverBase } from "../../src/agent/enroll.ts";
import { identityPath, readIdentity, writeIdentity } from "../../src/agent/identity.ts";
import { parseLinuxMachineId, parseMachineGuid } from "../../src/agent/machine-id.ts";
import { Spool } from "../../src/agent/spool.ts";
import { recordingLog, tempDir } from "./_helpers.ts";

const identity = {
  agent_id: 7,
  token: "rlva_abc",
  server: "http://127.0.0.1:5000/",
  registered_at: "2026-12-01T10:00:00.000Z",
};

describe("the agent's identity file", () => {
  test("written whole with mode 0600 in the spool directory, read back; absent is null", async () => {
    const spoolDir = join(tempDir("relevo-id-"), "spool");
    const path = identityPath(spoolDir);
    expect(readIdentity(path)).toBeNull();
    await writeIdentity(path, identity);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readIdentity(path)).toEqual(identity);
    expect(readdirSync(spoolDir)).toEqual(["agent-identity.json"]);
    // The spool beside it sees no entry in it.
    const spool = await Spool.open({
      dir: spoolDir,
      maxReports: 10,
      maxBytes: 1 << 20,
      now: Date.now,
      log: recordingLog(),
    });
    expect(spool.size).toBe(0);
    await spool.close();
  });

  test("a damaged file is an error naming it and what to do, never a silent fresh start", () => {
    const dir = tempDir("relevo-id-");
    const path = join(dir, "agent-identity.json");
    writeFileSync(path, "{not json");
    expect(() => readIdentity(path)).toThrow(/agent-identity\.json is damaged .*register again/);
    writeFileSync(path, JSON.stringify({ ...identity, agent_id: "7" }));
    expect(() => readIdentity(path)).toThrow(/is damaged/);
    writeFileSync(path, JSON.stringify({ ...identity, token: "two words" }));
    expect(() => readIdentity(path)).toThrow(/is damaged/);
  });
});

describe("machine ids and the server's base URL", () => {
  test("/etc/machine-id: 32 hex digits, anything else is none", () => {
    expect(parseLinuxMachineId("4c4c4544004d3510804bb4c04f4e3332\n")).toBe(
      "4c4c4544004d3510804bb4c04f4e3332",
    );
    expect(parseLinuxMachineId("uninitialized\n")).toBeNull();
    expect(parseLinuxMachineId("")).toBeNull();
  });

  test("the MachineGuid from reg query's output", () => {
    const out =
      "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\r\n    MachineGuid    REG_SZ    3F2504E0-4F89-11D3-9A0C-0305E82C3301\r\n\r\n";
    expect(parseMachineGuid(out)).toBe("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    expect(parseMachineGuid("ERROR: The system was unable to find the specified registry key")).toBeNull();
  });

  test("the base URL is the upload URL without /upload", () => {
    expect(serverBase(new URL("http://srv:5000/upload")).href).toBe("http://srv:5000/");
    expect(serverBase(new URL("https://srv/relevo/upload")).href).toBe("https://srv/relevo");
  });
});
