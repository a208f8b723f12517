/** Turns anything thrown into a one-line message; the stack is for `--verbose` only. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The Node-style error code (`ENOSPC`, `EIO`, ...) of a file-system error, if any. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A mistake in how a command was called: printed with a pointer to --help, exit 1 (2 for a bad flag). */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
