// An install or uninstall is a plan: a list of steps (files to write, commands to run) made by pure
// functions. `--print` renders the plan; without it, execute.ts carries it out. So what is printed is
// exactly what is done, and the tests check the text of both platforms on any machine.

export type ServicePlatform = "linux" | "windows";

export type Step =
  | { kind: "mkdir"; path: string; mode?: number; why: string }
  | { kind: "copy"; from: string; to: string; mode?: number; why: string }
  | {
      kind: "write";
      path: string;
      content: string;
      /** Task Scheduler reads its XML as UTF-16 (with a byte-order mark). */
      encoding?: "utf8" | "utf16le";
      mode?: number;
      /** Shown by --print instead of the content (secrets). */
      shown?: string;
      why: string;
    }
  | {
      kind: "run";
      argv: string[];
      /** A failure is expected and harmless (stopping a service that is not running). */
      mayFail?: boolean;
      why: string;
    }
  | {
      kind: "remove";
      path: string;
      recursive?: boolean;
      /** Remove the directory only if nothing else is left in it. */
      ifEmpty?: boolean;
      why: string;
    };

export interface Plan {
  action: "install" | "uninstall";
  service: string;
  platform: ServicePlatform;
  steps: Step[];
  /** What to do next, printed after the plan and after a real install. */
  notes: string[];
}

/** POSIX shell quoting for display: `'...'` unless the word is plainly safe. */
function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'"'"'`)}'`;
}

/**
 * One argument in a Windows command line, as CommandLineToArgvW (and Bun) reads it back: quoted when it
 * has spaces, tabs or quotes (or is empty), with backslashes doubled only before a quote.
 */
export function windowsArg(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let slashes = 0;
  for (const ch of arg) {
    if (ch === "\\") {
      slashes++;
      continue;
    }
    if (ch === '"') {
      out += `${"\\".repeat(slashes * 2 + 1)}"`;
    } else {
      out += "\\".repeat(slashes) + ch;
    }
    slashes = 0;
  }
  return `${out + "\\".repeat(slashes * 2)}"`;
}

/** A Windows command line for display, pasteable into cmd.exe and PowerShell: `(` and `)` are quoted too. */
export function windowsCommandLine(argv: string[]): string {
  return argv.map((arg) => (/[()&|<>^;,$`']/.test(arg) ? `"${arg}"` : windowsArg(arg))).join(" ");
}

function octal(mode: number | undefined): string {
  return mode === undefined ? "" : ` (mode ${mode.toString(8).padStart(4, "0")})`;
}

function indent(text: string): string {
  return text
    .replaceAll("\r\n", "\n")
    .replace(/\n$/, "")
    .split("\n")
    .map((line) => (line ? `    ${line}` : ""))
    .join("\n");
}

/** The text `--print` shows: every file with its content and every command, in order. */
export function renderPlan(plan: Plan): string {
  const command =
    plan.platform === "windows" ? windowsCommandLine : (argv: string[]) => argv.map(shellQuote).join(" ");
  const out: string[] = [
    `# ${plan.service} ${plan.action} on ${plan.platform === "linux" ? "Linux (systemd)" : "Windows (Task Scheduler)"}: ` +
      `${plan.steps.length} steps. Printed only: nothing was written or run.`,
    "",
  ];
  plan.steps.forEach((step, i) => {
    const n = `${i + 1}.`;
    switch (step.kind) {
      case "mkdir":
        out.push(`${n} create directory ${step.path}${octal(step.mode)}  # ${step.why}`);
        break;
      case "copy":
        out.push(`${n} copy ${step.from}`, `     to ${step.to}${octal(step.mode)}  # ${step.why}`);
        break;
      case "write":
        out.push(
          `${n} write ${step.path}${octal(step.mode)}${step.encoding === "utf16le" ? " (UTF-16)" : ""}  # ${step.why}`,
          indent(step.shown ?? step.content),
        );
        break;
      case "run":
        out.push(`${n} run: ${command(step.argv)}  # ${step.why}${step.mayFail ? " (may fail)" : ""}`);
        break;
      case "remove":
        out.push(
          `${n} remove ${step.path}${step.recursive ? " and everything in it" : ""}${step.ifEmpty ? " if empty" : ""}  # ${step.why}`,
        );
        break;
    }
  });
  if (plan.notes.length) out.push("", ...plan.notes.map((note) => `# ${note}`));
  return `${out.join("\n")}\n`;
}
