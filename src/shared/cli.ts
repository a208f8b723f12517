// Runs a citty command the way both executables should: --help and --version as citty does them, the
// command line checked first (an unknown flag or a stray argument exits 2 with the closest known flag), and any
// failure printed as one line (the stack only with --verbose) with exit code 1, never a silent exit 0.
import { type ArgsDef, type CommandDef, runCommand, runMain } from "citty";
import { checkArgs, resolveCommand } from "./_argv.ts";
import { errorCode, errorMessage, UsageError } from "./errors.ts";

export { UsageError };

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
  const root = main as unknown as CommandDef<ArgsDef>;
  if (rawArgs.includes("--help") || rawArgs.includes("-h")) {
    // citty's own runner finds the subcommand whose usage was asked for (`token create --help`).
    const { argv } = await resolveCommand(root, rawArgs, true);
    await runMain(main, { rawArgs: argv });
    return;
  }
  let usage = name;
  try {
    const resolved = await resolveCommand(root, rawArgs);
    usage = [name, ...resolved.path].join(" ");
    await checkArgs(resolved);
    await runCommand(main, { rawArgs: resolved.argv });
  } catch (error) {
    if (error instanceof UsageError || (error as { name?: string }).name === "CLIError") {
      console.error(`${name}: ${errorMessage(error)} (see ${usage} --help)`);
      process.exitCode = error instanceof UsageError ? error.exitCode : 2;
      return;
    }
    console.error(`${name}: ${errorMessage(error)}`);
    if (rawArgs.includes("--verbose") && error instanceof Error && error.stack) console.error(error.stack);
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

/** Writes a command's output; a reader that went away (`| head -c 100`) ends it quietly, as for other tools. */
export async function writeStdout(text: string): Promise<void> {
  try {
    await Bun.write(Bun.stdout, text);
  } catch (error) {
    if (errorCode(error) !== "EPIPE") throw error;
  }
}
