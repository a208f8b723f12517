// A private CA and a server certificate for 127.0.0.1, made with openssl for tests that speak TLS.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./server.ts";

export const openssl = Bun.which("openssl");

export interface TestCertificates {
  dir: string;
  /** PEM texts. */
  ca: string;
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  caPath: string;
}

/** Needs openssl (see `openssl` above to skip without it). */
export async function makeTestCertificates(): Promise<TestCertificates> {
  if (!openssl) throw new Error("openssl is not installed");
  const dir = tempDir("relevo-tls-");
  const run = (...args: string[]) => {
    const result = Bun.spawnSync([openssl, ...args], { cwd: dir, stderr: "pipe" });
    if (result.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${result.stderr.toString()}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=relevo test CA",
  );
  run("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  const read = (name: string) => Bun.file(join(dir, name)).text();
  return {
    dir,
    ca: await read("ca.pem"),
    cert: await read("server.pem"),
    key: await read("server.key"),
    caPath: join(dir, "ca.pem"),
    certPath: join(dir, "server.pem"),
    keyPath: join(dir, "server.key"),
  };
}
