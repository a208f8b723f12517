// checkForUpdate against a server that lies (a Bun.serve on 127.0.0.1 answering crafted update checks):
// a true downgrade, a signature for another version, another platform's file, a hash that is not the
// signed one, and a file that does not start as the signed version are each refused before anything is
// installed; a good one is ready, and the token never goes to an external download host.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { checkForUpdate } from "../../src/agent/update/fetch.ts";
import { refusedVersions } from "../../src/agent/update/state.ts";
import { sha256Hex, trustedComment } from "../../src/shared/release/manifest.ts";
import { parsePublicKey } from "../../src/shared/release/minisign.ts";
import { generateKeyPair, parseSecretKey, sign } from "../../src/shared/release/minisign-sign.ts";
import { tempDir } from "../helpers/server.ts";

const quiet = { info() {}, warn() {}, error() {}, debug() {}, success() {} } as never;
const FILE = "relevo-agent-linux-x64";
const pair = await generateKeyPair();
const secret = parseSecretKey(pair.secretKeyText);
const key = parsePublicKey(pair.publicKeyText);

/** A shell script that prints `says` for --version: a stand-in executable. */
const script = (says: string) => `#!/bin/sh\necho ${says}\n`;

async function offer(version: string, body: string, overrides: Record<string, unknown> = {}) {
  const sums = `${sha256Hex(new TextEncoder().encode(body))}  ${FILE}\n`;
  const signature = await sign(new TextEncoder().encode(sums), secret, trustedComment(version, new Date()));
  return {
    update_available: true,
    latest_version: version,
    download_url: "/file",
    changelog: "",
    sha256: sha256Hex(new TextEncoder().encode(body)),
    file: FILE,
    sums,
    signature,
    ...overrides,
  };
}

let answer: unknown = { update_available: false };
let body = "";
const seen: (string | null)[] = [];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/api/updates/check") return Response.json(answer);
    seen.push(request.headers.get("authorization"));
    return new Response(body);
  },
});
afterAll(() => server.stop(true));

function context(stateDir = tempDir("relevo-update-")) {
  return {
    base: new URL(`http://127.0.0.1:${server.port}/`),
    agentId: 1,
    token: "rlva_secret",
    version: "1.0.0",
    platform: "linux-x64",
    keys: [key],
    stateDir,
    ca: undefined,
    timeoutMs: 10_000,
    log: quiet,
    now: () => new Date(),
  };
}

describe("checkForUpdate refuses what it must not run", () => {
  /** name, the answer, the bytes served, why, and whether the (signed) version is refused for good. */
  const cases: [string, () => Promise<unknown>, string, RegExp, boolean][] = [
    [
      "a downgrade, correctly signed",
      () => offer("0.9.0", script("0.9.0")),
      script("0.9.0"),
      /not newer than 1.0.0/,
      true,
    ],
    [
      "the same version",
      () => offer("1.0.0", script("1.0.0")),
      script("1.0.0"),
      /not newer than 1.0.0/,
      true,
    ],
    [
      "a signature for another version",
      async () => ({ ...(await offer("1.1.0", script("1.1.0"))), latest_version: "2.0.0" }),
      script("1.1.0"),
      /signature is for 1.1.0, not 2.0.0/,
      false,
    ],
    [
      "another platform's file",
      async () => ({ ...(await offer("1.1.0", script("1.1.0"))), file: "relevo-agent-windows-x64.exe" }),
      script("1.1.0"),
      /not relevo-agent-linux-x64/,
      false,
    ],
    [
      "an offered hash that is not the signed one",
      async () => ({ ...(await offer("1.1.0", script("1.1.0"))), sha256: "0".repeat(64) }),
      script("1.1.0"),
      /not the one in the signed SHA256SUMS/,
      false,
    ],
    [
      "a file that says another version",
      () => offer("1.1.0", script("1.1.1")),
      script("1.1.1"),
      /does not start.*not 1.1.0/,
      true,
    ],
  ];
  for (const [name, make, served, why, forGood] of cases) {
    test(`refuses ${name}${forGood ? ", for good" : " (a server's claim: not remembered)"}`, async () => {
      answer = await make();
      body = served;
      const ctx = context();
      const result = await checkForUpdate(ctx);
      expect(result.kind).toBe("refused");
      expect(result.message).toMatch(why);
      expect(Object.keys(refusedVersions(ctx.stateDir))).toHaveLength(forGood ? 1 : 0);
      // Asked again, it does not try a version refused for good a second time.
      if (forGood) expect((await checkForUpdate(ctx)).message).toContain("refused before");
    });
  }

  test("changed bytes are deleted and tried again next time, not refused for good", async () => {
    answer = await offer("1.1.0", script("1.1.0"));
    body = script("1.1.0").replace("echo", "echo ");
    const ctx = context();
    const result = await checkForUpdate(ctx);
    expect(result.kind).toBe("failed");
    expect(result.message).toMatch(/SHA-256 .* not the signed/);
    expect(refusedVersions(ctx.stateDir)).toEqual({});
    expect(existsSync(join(ctx.stateDir, "update", `${FILE}.1.1.0.download`))).toBe(false);
  });

  test("a good release is ready; the token goes to our own server only", async () => {
    answer = await offer("1.1.0", script("1.1.0"));
    body = script("1.1.0");
    seen.length = 0;
    const ready = await checkForUpdate(context());
    expect(ready.kind).toBe("ready");
    expect(seen).toEqual(["Bearer rlva_secret"]);
    // The same file from an "external" host (another origin: localhost instead of 127.0.0.1).
    answer = await offer("1.1.0", script("1.1.0"), { download_url: `http://localhost:${server.port}/file` });
    seen.length = 0;
    expect((await checkForUpdate(context())).kind).toBe("ready");
    expect(seen).toEqual([null]);
  });

  test("no trusted key: nothing is fetched", async () => {
    const result = await checkForUpdate({ ...context(), keys: [] });
    expect(result.kind).toBe("failed");
    expect(result.message).toContain("no update key is trusted");
  });
});
