// One consola instance for the whole program, with a tagged child per area (`logger("store")`). Logs go to
// stderr so `relevo-agent collect | jq` sees only the report on stdout. The CLIs set the level; consola
// copies the level into each child when it is made, so setLogLevel updates them all.
//
// consola's core with a one-line reporter on console.error, not its default entry: that one builds an
// Intl.Segmenter and large Unicode tables at import and writes through process.stderr (Node's stream
// machinery), which together kept about 18 MB of the executable resident in a long-running agent.
import { type ConsolaInstance, type ConsolaReporter, createConsola, type LogType } from "consola/core";

const ICONS: Partial<Record<LogType, string>> = {
  info: "ℹ",
  success: "✔",
  ready: "✔",
  start: "◐",
  warn: "⚠",
  error: "✖",
  fail: "✖",
  fatal: "✖",
  debug: "⚙",
  trace: "→",
};

const stderrReporter: ConsolaReporter = {
  log({ type, tag, args }) {
    const icon = ICONS[type];
    const prefix = [tag ? `[${tag}]` : "", icon ?? ""].filter(Boolean).join(" ");
    if (prefix) console.error(prefix, ...args);
    else console.error(...args);
  },
};

const log = createConsola({ reporters: [stderrReporter], level: 3 });
const children: ConsolaInstance[] = [];

export function logger(tag: string): ConsolaInstance {
  const child = log.withTag(tag);
  child.level = log.level;
  children.push(child);
  return child;
}

/** 0 silent, 1 errors, 3 info, 4 debug. */
export function setLogLevel(level: number): void {
  log.level = level;
  for (const child of children) child.level = level;
}
