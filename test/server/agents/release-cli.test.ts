// relevo-server release keygen and the rollout share: keys in minisign's format (the secret 0600, never
// overwritten by accident), bad flags refused with a message, and --percent 10 reaching about a tenth
// of the fleet, the same agents each time.
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { inRollout } from "../../../src/server/releases/release-store.ts";
import { parsePublicKey } from "../../../src/shared/release/minisign.ts";
import { parseSecretKey, publicKeyOf } from "../../../src/shared/release/minisign-sign.ts";
import { BUN, REPO, tempDir } from "../../helpers/server.ts";

async function cli(cwd: string, ...args: string[]) {
  const proc = Bun.spawn([BUN, join(REPO, "src", "server", "cli.ts"), ...args], {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, out, err };
}

describe("relevo-server release", () => {
  test("keygen writes a matching pair, the secret 0600; --print-public shows it; no silent overwrite", async () => {
    const dir = tempDir("relevo-keygen-");
    const made = await cli(dir, "release", "keygen", "--out", join(dir, "k"));
    expect(made.code).toBe(0);
    const pub = parsePublicKey(readFileSync(join(dir, "k.pub"), "utf8"));
    expect(publicKeyOf(parseSecretKey(readFileSync(join(dir, "k.key"), "utf8"))).id).toBe(pub.id);
    expect(statSync(join(dir, "k.key")).mode & 0o777).toBe(0o600);
    expect(made.out).toBe(readFileSync(join(dir, "k.pub"), "utf8"));
    expect((await cli(dir, "release", "keygen", "--out", join(dir, "k"), "--print-public")).out).toContain(
      pub.id,
    );
    const again = await cli(dir, "release", "keygen", "--out", join(dir, "k"));
    expect(again.code).not.toBe(0);
    expect(again.err).toContain("--force");
  });

  test("bad flags are refused with a message", async () => {
    const data = tempDir("relevo-release-data-");
    const percent = await cli(
      data,
      "release",
      "add",
      data,
      "--public-key",
      "x.pub",
      "--percent",
      "0",
      "--data",
      data,
    );
    expect(percent.code).not.toBe(0);
    expect(percent.err).toMatch(/--public-key x.pub|--percent/);
    const version = await cli(data, "release", "remove", "../../etc", "--data", data);
    expect(version.code).not.toBe(0);
    expect(version.err).toContain("is not a version");
    const unknown = await cli(data, "release", "rollout", "9.9.9", "--percent", "50", "--data", data);
    expect(unknown.err).toContain("no release 9.9.9");
  });

  test("--percent 10 offers a release to about a tenth of the agents, the same ones each time", () => {
    const chosen = Array.from({ length: 10_000 }, (_, i) => i + 1).filter((id) => inRollout(id, "1.2.0", 10));
    expect(chosen.length).toBeGreaterThan(900);
    expect(chosen.length).toBeLessThan(1_100);
    expect(chosen.every((id) => inRollout(id, "1.2.0", 10))).toBe(true);
    expect(chosen.every((id) => inRollout(id, "1.2.0", 50))).toBe(true);
    expect(inRollout(1, "1.2.0", 100)).toBe(true);
  });
});
