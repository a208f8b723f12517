// One consola instance for the whole program, with a tagged child per area (`logger("store")`). Logs go to
// stderr so `relevo-agent collect | jq` sees only the report on stdout. The CLIs set the level; consola
// copies the level into each child when it is made, so setLogLevel updates them all.
import { type ConsolaInstance, createConsola } from "consola";

export const log = createConsola({ stdout: process.stderr, stderr: process.stderr, level: 3 });
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
