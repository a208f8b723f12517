// `relevo-server token ...` run from source, as an operator types it; stdin optional (for --value-stdin).
import { join } from "node:path";
import { BUN, REPO } from "./server.ts";

const CLI = join(REPO, "src", "server", "cli.ts");

export async function tokenCli(args: string[], stdin?: string) {
  const proc = Bun.spawn([BUN, CLI, "token", ...args], {
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}

/** A new token of `role` in `dataDir`; the token itself (the last line the command prints). */
export async function makeToken(dataDir: string, role: string, ...more: string[]): Promise<string> {
  const result = await tokenCli(["create", "--data", dataDir, "--role", role, ...more]);
  if (result.code !== 0) throw new Error(`token create failed: ${result.stderr}`);
  return result.stdout.trim().split("\n").at(-1) ?? "";
}
