// The service's secrets file: `KEY=value` lines, read by systemd's EnvironmentFile= on Linux and by the
// executable's own `--env-file` (readEnvFile) on Windows, where a scheduled task has no environment of its
// own. Values are single words (tokens are base64url), so no quoting rules are needed, and anything else is
// refused when writing.

const SECRET_MASK = "********";

/** The file's text; throws on a key or value that would not read back the same. */
export function renderEnvFile(vars: Record<string, string>, header: string): string {
  const lines = [`# ${header}`];
  for (const [key, value] of Object.entries(vars)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) throw new Error(`Bad environment variable name "${key}"`);
    if (!/^[\x21-\x7e]+$/.test(value) || value.includes("#") || /^["']/.test(value)) {
      throw new Error(
        `The value of ${key} must be one word of printable ASCII without "#" or leading quotes`,
      );
    }
    lines.push(`${key}=${value}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The same text with every value hidden, for --print. */
export function maskEnvFile(text: string): string {
  return text.replace(/^([A-Z_][A-Z0-9_]*)=.*$/gm, `$1=${SECRET_MASK}`);
}

/** Reads `KEY=value` lines (comments and blank lines skipped, CRLF tolerated). */
export function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    vars[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return vars;
}

/** For a CLI's `--env-file FILE`: the file's RELEVO_* variables (others are ignored). */
export async function readEnvFile(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await Bun.file(file).text();
  } catch (error) {
    throw new Error(`Failed to read the environment file ${file}: ${(error as Error).message}`);
  }
  return Object.fromEntries(Object.entries(parseEnvFile(text)).filter(([key]) => key.startsWith("RELEVO_")));
}
