// Recorded Windows output: each file in test/fixtures/windows opens with a note (which command, which
// Windows) up to the first empty line; the rest is exactly what the command printed.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const DIR = join(import.meta.dir, "..", "..", "fixtures", "windows");

export function windowsOutput(name: string): string {
  const text = readFileSync(join(DIR, `${name}.txt`), "utf8");
  const blank = text.indexOf("\n\n");
  if (!text.startsWith("#") || blank < 0) throw new Error(`${name}.txt has no note before its output`);
  return text.slice(blank + 2);
}
