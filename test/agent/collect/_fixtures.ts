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

/** The sessions the recorded users output (and the pwsh stand-ins built from it) describe. */
export const RECORDED_SESSIONS = [
  {
    name: "Administrator",
    terminal: "Console",
    host: "",
    login_at: "2026-11-20T06:15:10.390Z",
    domain: "WEB01",
    state: "active",
  },
  {
    name: "alice",
    terminal: "RDP-Tcp#3",
    host: "203.0.113.25",
    login_at: "2026-11-22T08:14:03.828Z",
    domain: "CORP",
    state: "active",
  },
  {
    name: "bob",
    terminal: "session 3",
    host: "198.51.100.7",
    login_at: "2026-11-21T17:40:55.015Z",
    domain: "CORP",
    state: "disconnected",
  },
  {
    name: "carol",
    terminal: "ssh",
    host: "2001:db8:5::40",
    login_at: "2026-11-23T08:41:19.234Z",
    domain: "CORP",
    state: "active",
  },
];
