// Shared by the agent tests: a log that records lines, a fake collector, free ports, child processes.
import type { Report } from "../../src/shared/report.ts";
import { sampleReport } from "../helpers/report.ts";

export interface RecordingLog {
  lines: string[];
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  success(message: string): void;
}

/** A logger that keeps every line (level-prefixed) for the test to look at. */
export function recordingLog(): RecordingLog {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
    if (process.env.RELEVO_TEST_LOGS) console.error(`${level} ${message}`);
  };
  return {
    lines,
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    debug: at("debug"),
    success: at("info"),
  };
}

/** A collector that hands out the recorded report with a fresh report_id each time, and remembers the ids. */
export function fakeCollector(make: () => Report = () => sampleReport()) {
  const ids: string[] = [];
  return {
    ids,
    closed: false,
    async collect(): Promise<Report> {
      const report = make();
      ids.push(report.report_id);
      return report;
    },
    close() {
      this.closed = true;
    },
  };
}

export { freePort, tempDir } from "../helpers/server.ts";

/** Waits until `check` holds, polling; fails the test with `what` after `ms`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** Reads a child's stdout until a line equals `line`. */
export async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  line: string,
  ms = 10_000,
): Promise<void> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + ms;
  try {
    while (!text.split("\n").includes(line)) {
      const next = await Promise.race([
        reader.read(),
        Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null),
      ]);
      if (!next || next.done) throw new Error(`no "${line}" line; got: ${text}`);
      text += decoder.decode(next.value);
    }
  } finally {
    reader.releaseLock();
  }
}
