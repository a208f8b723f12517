// `relevo-server health [--url URL]`: asks a running server's GET /health and exits 0 only when it answers
// status ok. The container's HEALTHCHECK runs it, so the image needs no curl.
import { defineCommand } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { errorMessage } from "../../shared/errors.ts";

export default defineCommand({
  meta: { name: "health", description: "Exit 0 if the server at --url answers /health with status ok" },
  args: {
    url: { type: "string", default: "http://127.0.0.1:5000", description: "The server's base URL" },
    timeout: { type: "string", default: "5", description: "Seconds to wait for the answer" },
  },
  async run({ args }) {
    const seconds = Number(args.timeout);
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 300) {
      throw new UsageError(`--timeout must be a number of seconds from 0 to 300, got "${args.timeout}"`);
    }
    let status: string;
    try {
      const res = await fetch(new URL("/health", args.url), { signal: AbortSignal.timeout(seconds * 1000) });
      const body = (await res.json().catch(() => ({}))) as { status?: unknown };
      status = res.ok && typeof body.status === "string" ? body.status : `HTTP ${res.status}`;
    } catch (error) {
      throw new UsageError(`${args.url}/health did not answer: ${errorMessage(error)}`, 1);
    }
    if (status !== "ok") throw new UsageError(`${args.url}/health says ${status}`, 1);
    process.stdout.write("ok\n");
  },
});
