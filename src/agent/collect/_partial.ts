// A section that could be read only in part: what the runtime gave is kept, what failed is named in
// `errors`. On Windows, node:os answers the host name, addresses, arch, cores and memory even when
// PowerShell is broken; only the fields that need PowerShell are lost.

export class PartialSectionError<T> extends Error {
  constructor(
    readonly section: T,
    message: string,
  ) {
    super(message);
    this.name = "PartialSectionError";
  }
}

/** Runs `work`; if it fails, throws a PartialSectionError carrying `section` and naming the `missing` fields. */
export async function orPartial<T, R>(section: T, missing: string[], work: () => Promise<R>): Promise<R> {
  try {
    return await work();
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    throw new PartialSectionError(section, `${missing.join(", ")} not read: ${cause}`);
  }
}
