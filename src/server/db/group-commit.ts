// Group commit: the writes of every request that arrives while the event loop is busy are run in one
// transaction, so one fsync (synchronous=FULL) acknowledges them all. A request's promise settles only
// after COMMIT returned. bun:sqlite is synchronous: while a commit waits for the disk, new requests queue
// up in the socket buffers and become the next group by themselves.
import type { Database, Statement } from "bun:sqlite";
import { asStoreError } from "./errors.ts";

interface Pending {
  work: () => unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class GroupCommit {
  #queue: Pending[] = [];
  #scheduled = false;
  #closed = false;
  /** Transactions committed and writes they carried, for /health and the benchmark. */
  commits = 0;
  writes = 0;

  // Prepared once: db.run() would compile these four statements again for every request.
  readonly #sql: Record<"begin" | "commit" | "savepoint" | "release" | "rollbackTo", Statement>;

  constructor(private readonly db: Database) {
    this.#sql = {
      begin: db.prepare("BEGIN IMMEDIATE"),
      commit: db.prepare("COMMIT"),
      savepoint: db.prepare("SAVEPOINT item"),
      release: db.prepare("RELEASE item"),
      rollbackTo: db.prepare("ROLLBACK TO item"),
    };
  }

  get pending(): number {
    return this.#queue.length;
  }

  /** Runs `work` inside the next group's transaction; resolves with its result once committed. */
  run<T>(work: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the database is closed"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // After the I/O phase: every request whose body has arrived by now joins this group.
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Commits what is queued, then refuses new work. */
  close(): void {
    if (this.#queue.length) this.#flush();
    this.#closed = true;
  }

  #flush(): void {
    this.#scheduled = false;
    const group = this.#queue;
    this.#queue = [];
    if (!group.length) return;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.#sql.begin.run();
      for (const item of group) outcomes.push(this.#runOne(item));
      this.#sql.commit.run();
    } catch (error) {
      // A failed statement or COMMIT (disk full, I/O error): nothing of this group is stored.
      if (this.db.inTransaction) {
        try {
          this.db.run("ROLLBACK");
        } catch {
          // SQLite may have rolled back already.
        }
      }
      const failure = asStoreError(error);
      for (const item of group) item.reject(failure);
      return;
    }
    this.commits++;
    this.writes += group.length;
    group.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(outcome?.value);
    });
  }

  /** One request's work under a savepoint, so a bug in one cannot take the others' writes with it. */
  #runOne(item: Pending): { ok: boolean; value: unknown } {
    this.#sql.savepoint.run();
    try {
      const value = item.work();
      this.#sql.release.run();
      return { ok: true, value };
    } catch (error) {
      // Disk and I/O errors abort the whole transaction: let them reach the group.
      if (!this.db.inTransaction || asStoreError(error) !== error) throw error;
      this.#sql.rollbackTo.run();
      this.#sql.release.run();
      return { ok: false, value: error };
    }
  }
}
