// Reads a command line against the command tree before citty runs it: finds the command named (wherever
// its flags stand: `--data D token list` is `token list --data D`), and refuses any flag the command does
// not know and any argument it does not take, naming the closest known flag. citty itself ignores both.
import type { ArgDef, ArgsDef, CommandDef } from "citty";
import { UsageError } from "./errors.ts";

/** Exit status of a command line that names an unknown flag, command or argument. */
const BAD_USAGE = 2;

type AnyCommand = CommandDef<ArgsDef>;
type Resolvable<T> = T | (() => T | Promise<T>) | Promise<T>;

async function resolve<T>(value: Resolvable<T>): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

async function subCommandsOf(cmd: AnyCommand): Promise<Record<string, AnyCommand>> {
  const subs = (await resolve(cmd.subCommands as Resolvable<Record<string, Resolvable<AnyCommand>>>)) ?? {};
  const out: Record<string, AnyCommand> = {};
  for (const [name, sub] of Object.entries(subs)) out[name] = await resolve(sub);
  return out;
}

async function argsOf(cmd: AnyCommand): Promise<ArgsDef> {
  return ((await resolve(cmd.args as Resolvable<ArgsDef>)) ?? {}) as ArgsDef;
}

/** Every flag that takes a value anywhere below `cmd`: their values are never command names. */
async function valueFlags(cmd: AnyCommand, into = new Set<string>()): Promise<Set<string>> {
  for (const [name, def] of Object.entries(await argsOf(cmd))) {
    if (def.type === "string" || def.type === "enum") into.add(name);
  }
  for (const sub of Object.values(await subCommandsOf(cmd))) await valueFlags(sub, into);
  return into;
}

function flagName(token: string): string {
  return token.replace(/^--?/, "").split("=")[0] ?? "";
}

interface Resolved {
  /** The command line in citty's order: command names first, then everything else as given. */
  argv: string[];
  /** The command that will run, and how to name it in messages (`relevo-server token create`). */
  leaf: AnyCommand;
  path: string[];
  /** When the leaf is a default command: the commands that could have been named instead. */
  siblings?: string[];
}

/** Finds the command a command line names, with the flags before and after the command names kept. */
export async function resolveCommand(
  main: AnyCommand,
  rawArgs: string[],
  lenient = false,
): Promise<Resolved> {
  let cmd = main;
  const path: string[] = [];
  let rest = [...rawArgs];
  for (;;) {
    const subs = await subCommandsOf(cmd);
    if (!Object.keys(subs).length) break;
    const takesValue = await valueFlags(cmd);
    let at = -1;
    for (let i = 0; i < rest.length; i++) {
      const token = rest[i] ?? "";
      if (token === "--") break;
      if (token.startsWith("-") && token !== "-") {
        if (!token.includes("=") && takesValue.has(flagName(token))) i++;
        continue;
      }
      at = i;
      break;
    }
    const name = at >= 0 ? (rest[at] ?? "") : undefined;
    const sub = name === undefined ? undefined : subs[name];
    if (name !== undefined && sub) {
      path.push(name);
      rest = [...rest.slice(0, at), ...rest.slice(at + 1)];
      cmd = sub;
      continue;
    }
    const fallback = cmd.default ? await resolve(cmd.default as Resolvable<string>) : undefined;
    if (!fallback) {
      // Asked for help: the usage of the deepest command named so far.
      if (lenient) break;
      const known = Object.keys(subs);
      if (name === undefined) throw new UsageError(`name a command: ${known.join(", ")}`, BAD_USAGE);
      throw new UsageError(`unknown command "${name}"${hint(name, known, "")}`, BAD_USAGE);
    }
    // citty runs the default itself; only the flags are checked against it here, in order, so that
    // `--porrt 5999` is named as the unknown flag rather than 5999 as an unknown command.
    const defaulted = subs[fallback];
    if (!defaulted) throw new Error(`the default command ${fallback} is missing`);
    return {
      argv: [...path, ...rest],
      leaf: defaulted,
      path: [...path, fallback],
      siblings: Object.keys(subs),
    };
  }
  return { argv: [...path, ...rest], leaf: cmd, path };
}

/** Refuses unknown flags, missing flag values, bad enum values and stray arguments for `leaf`. */
export async function checkArgs(resolved: Resolved): Promise<void> {
  const defs = await argsOf(resolved.leaf);
  const command = resolved.path.join(" ") || "this command";
  const flags = new Map<string, ArgDef>();
  for (const [name, def] of Object.entries(defs)) if (def.type !== "positional") flags.set(name, def);
  const positionalDefs = Object.values(defs).filter((def) => def.type === "positional");
  // A last positional whose valueHint ends in "..." takes every remaining word (`log MESSAGE...`).
  const positionals = positionalDefs.at(-1)?.valueHint?.endsWith("...")
    ? Number.POSITIVE_INFINITY
    : positionalDefs.length;
  const known = [...flags.entries()].flatMap(([name, def]) =>
    def.type === "boolean" ? [name, `no-${name}`] : [name],
  );
  // A default command's path has its name, which the command line does not.
  const args = resolved.argv.slice(resolved.path.length - (resolved.siblings ? 1 : 0));
  let stray = 0;
  for (let i = 0; i < args.length; i++) {
    const token = args[i] ?? "";
    if (token === "--") {
      stray += args.length - i - 1;
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      stray++;
      if (stray > positionals) {
        if (resolved.siblings && stray === 1) {
          throw new UsageError(`unknown command "${token}"${hint(token, resolved.siblings, "")}`, BAD_USAGE);
        }
        throw new UsageError(`unexpected argument "${token}" for ${command}`, BAD_USAGE);
      }
      continue;
    }
    const name = flagName(token);
    const negated = name.startsWith("no-") ? flags.get(name.slice(3)) : undefined;
    const def = flags.get(name) ?? (negated?.type === "boolean" ? negated : undefined);
    if (!def || !token.startsWith("--")) {
      throw new UsageError(`unknown flag ${token} for ${command}${hint(name, known, "--")}`, BAD_USAGE);
    }
    if (def.type !== "string" && def.type !== "enum") continue;
    const eq = token.indexOf("=");
    const value = eq >= 0 ? token.slice(eq + 1) : args[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`, BAD_USAGE);
    const options = def.type === "enum" ? (def.options ?? []) : [];
    if (options.length && !options.includes(value)) {
      throw new UsageError(`--${name} must be ${options.join(" or ")}, got "${value}"`);
    }
  }
}

function hint(word: string, known: string[], prefix: string): string {
  const best = closest(word, known);
  return best ? `; did you mean ${prefix}${best}?` : "";
}

/** The known word nearest to a typo, if it is near enough to be what was meant. */
function closest(word: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}
