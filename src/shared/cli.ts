// Runs a citty command the way both executables should: --help and --version as citty does them, and any
// failure printed as one line (the stack only with --verbose) with exit code 1, never a silent exit 0.
import { type ArgsDef, type CommandDef, runCommand, runMain } from "citty";
import { errorMessage } from "./errors.ts";

/** A mistake in how the command was called: printed with the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

export async function runCli<T extends ArgsDef>(
  main: CommandDef<T>,
  name: string,
  version: string,
  rawArgs = process.argv.slice(2),
) {
  if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v")) {
    console.log(version);
    return;
  }
  if (rawArgs.includes("--help") || rawArgs.includes("-h")) {
    // citty's own runner finds the subcommand whose usage was asked for (`token create --help`).
    await runMain(main, { rawArgs });
    return;
  }
  try {
    await runCommand(main, { rawArgs });
  } catch (error) {
    if (error instanceof UsageError || (error as { name?: string }).name === "CLIError") {
      console.error(`${name}: ${errorMessage(error)} (see ${name} --help)`);
    } else {
      console.error(`${name}: ${errorMessage(error)}`);
      if (rawArgs.includes("--verbose") && error instanceof Error && error.stack) console.error(error.stack);
    }
    process.exitCode = 1;
  }
}

/** Parses a whole number flag within bounds, or throws a UsageError naming the flag. */
export function intFlag(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}
