// Whether the store takes writes, and why not: failed closed after an fsync error (until a restart), the
// directory unwritable (retried at most once a second), or the last write refused by the disk (for /health).
import { errorCode, errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import { StoreUnavailableError, unavailable } from "./types.ts";

/** While the directory is unwritable, opening it for writing is retried at most this often. */
const REOPEN_MS = 1000;
const storeLog = logger("store");

export class WriteState {
  /** Set when an fsync failed: the kernel may have dropped data, so nothing more is acknowledged. */
  failed: StoreUnavailableError | null = null;
  /** Set while the directory cannot be written at all (read-only, no permission). */
  unwritable: StoreUnavailableError | null = null;
  /** Why the last write failed (disk full...), until one succeeds again. */
  private lastWrite: StoreUnavailableError | null = null;
  private lastOpenAttempt = 0;

  constructor(private readonly clock: () => Date) {}

  /** Why writes are refused now, or null. */
  refusal(): StoreUnavailableError | null {
    return this.failed ?? this.unwritable;
  }

  /** What /health reports: a refusal, else the last write's failure, else what `probe` finds. */
  problem(probe: () => StoreUnavailableError | null): StoreUnavailableError | null {
    return this.refusal() ?? this.lastWrite ?? probe();
  }

  wrote(error: StoreUnavailableError | null): void {
    this.lastWrite = error;
  }

  failClosed(error: unknown): void {
    this.failed = new StoreUnavailableError(
      `an fsync failed (${errorMessage(error)}); the store refuses writes until the server restarts and recovers`,
      errorCode(error),
    );
    storeLog.error(this.failed.message);
  }

  markUnwritable(error: unknown): void {
    this.unwritable = unavailable(error);
    this.lastOpenAttempt = this.clock().getTime();
  }

  /** True (and counted as an attempt) when the directory is unwritable and a retry is due. */
  retryDue(): boolean {
    if (!this.unwritable || this.clock().getTime() - this.lastOpenAttempt < REOPEN_MS) return false;
    this.lastOpenAttempt = this.clock().getTime();
    return true;
  }
}
