// minisign interop: keys made here are used by Debian's minisign to sign and verify, and minisign's own
// signatures (prehashed and legacy) verify here; every changed byte is refused.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parsePublicKey, verify } from "../../src/shared/release/minisign.ts";
import {
  generateKeyPair,
  parseSecretKey,
  publicKeyOf,
  sign,
} from "../../src/shared/release/minisign-sign.ts";
import { tempDir } from "../helpers/server.ts";

const minisign = Bun.which("minisign");
const bytes = (text: string) => new TextEncoder().encode(text);

async function sh(argv: string[], stdin?: string) {
  const proc = Bun.spawn(argv, {
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { out, err, code };
}

describe("minisign signatures made here", () => {
  test("verify with the key they were made with, and not with another", async () => {
    const pair = await generateKeyPair();
    const other = await generateKeyPair();
    const secret = parseSecretKey(pair.secretKeyText);
    const signed = await sign(bytes("hello"), secret, "relevo-release version:1.0.0 date:x");
    const key = parsePublicKey(pair.publicKeyText);
    expect(publicKeyOf(secret).id).toBe(pair.id);
    expect((await verify(bytes("hello"), signed, [key])).trustedComment).toBe(
      "relevo-release version:1.0.0 date:x",
    );
    await expect(verify(bytes("hellO"), signed, [key])).rejects.toThrow(/does not match/);
    await expect(verify(bytes("hello"), signed, [parsePublicKey(other.publicKeyText)])).rejects.toThrow(
      /not trusted/,
    );
    const changedComment = signed.replace("version:1.0.0", "version:9.0.0");
    await expect(verify(bytes("hello"), changedComment, [key])).rejects.toThrow(
      /trusted comment was changed/,
    );
  });

  test("refuse malformed keys and signatures", () => {
    expect(() => parsePublicKey("not a key")).toThrow(/base64|not a minisign/);
    expect(() => parsePublicKey("RWQ=")).toThrow(/not a minisign/);
    expect(() => parseSecretKey("RWQ=")).toThrow(/secret key/);
  });
});

describe.skipIf(!minisign)("interop with Debian's minisign (needs the minisign package)", () => {
  test("minisign verifies our signature and signs with our secret key", async () => {
    const dir = tempDir("relevo-minisign-");
    const pair = await generateKeyPair();
    writeFileSync(join(dir, "key.pub"), pair.publicKeyText);
    writeFileSync(join(dir, "key.sec"), pair.secretKeyText);
    writeFileSync(join(dir, "file"), "payload\n");
    const ours = await sign(
      bytes("payload\n"),
      parseSecretKey(pair.secretKeyText),
      "relevo-release version:2.0.0 date:d",
    );
    writeFileSync(join(dir, "file.minisig"), ours);
    const checked = await sh([minisign as string, "-V", "-p", join(dir, "key.pub"), "-m", join(dir, "file")]);
    expect(checked.err + checked.out).toContain("Trusted comment: relevo-release version:2.0.0 date:d");
    expect(checked.code).toBe(0);
    const theirs = await sh([
      minisign as string,
      "-S",
      "-s",
      join(dir, "key.sec"),
      "-m",
      join(dir, "file"),
      "-x",
      join(dir, "theirs.minisig"),
      "-t",
      "by minisign",
    ]);
    expect(theirs.code).toBe(0);
    const got = await verify(bytes("payload\n"), readFileSync(join(dir, "theirs.minisig"), "utf8"), [
      parsePublicKey(pair.publicKeyText),
    ]);
    expect(got.trustedComment).toBe("by minisign");
  });

  for (const legacy of [false, true]) {
    test(`minisign's own keys and ${legacy ? "legacy (Ed)" : "prehashed (ED)"} signatures verify here`, async () => {
      const dir = tempDir("relevo-minisign-");
      const made = await sh([
        minisign as string,
        "-G",
        "-W",
        "-p",
        join(dir, "m.pub"),
        "-s",
        join(dir, "m.sec"),
      ]);
      expect(made.code).toBe(0);
      writeFileSync(join(dir, "file"), "their payload");
      const signed = await sh([
        minisign as string,
        "-S",
        ...(legacy ? ["-l"] : []),
        "-s",
        join(dir, "m.sec"),
        "-m",
        join(dir, "file"),
        "-t",
        "tc",
      ]);
      expect(signed.code).toBe(0);
      const text = readFileSync(join(dir, "file.minisig"), "utf8");
      expect(Buffer.from(text.split("\n")[1] ?? "", "base64").toString("latin1", 0, 2)).toBe(
        legacy ? "Ed" : "ED",
      );
      const key = parsePublicKey(readFileSync(join(dir, "m.pub"), "utf8"));
      expect((await verify(bytes("their payload"), text, [key])).trustedComment).toBe("tc");
      await expect(verify(bytes("their paylo4d"), text, [key])).rejects.toThrow(/does not match/);
    });
  }
});
