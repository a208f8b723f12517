// Simulated power loss, in the spirit of SQLite's crash tests: a StoreFs that runs the store on the real file
// system and records every operation that changes the disk, so that the state a power cut would leave after
// any prefix of those operations can be rebuilt and written out as a directory image.
//
// The model (stricter than most real file systems, never looser than POSIX promises):
// - File contents: what a file held when it was last fsynced (`sync`) is durable. Writes and truncations
//   since are volatile: at a crash each may be lost, kept, or (a write) torn to a prefix of its bytes.
//   Policies below decide which survive: none, an ordered prefix with the last one torn, a random subset
//   with some torn, or all of them (a process crash: the page cache survives).
// - Directory entries: creating, renaming or removing a name in a directory is durable only once that
//   directory has been synced (`syncDir`) afterwards; until then a crash brings back the directory as it
//   was at its last sync. That covers `mkdir` too: a new subdirectory is lost unless its parent is synced.
//   A file whose name was not made durable is gone after the crash, whatever was fsynced into it.
// - The reverse (metadata that reached the disk ahead of data: a name made durable early, its content not)
//   is the "names-ahead" policy: every current name, each file with only its fsynced content.
// - fsync and directory fsync take effect when they are called (what was written before the call is
//   durable once it returns); the real fsync is skipped, since the model, not the disk, is being tested.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { nodeStoreFs, type StoreFs } from "../../src/server/store/fs.ts";

export type DiskOp =
  | { kind: "create"; dir: string; name: string; node: number }
  | { kind: "mkdir"; dir: string; name: string }
  | { kind: "write"; node: number; position: number; data: Uint8Array }
  | { kind: "truncate"; node: number; length: number }
  | { kind: "sync"; node: number }
  | { kind: "syncDir"; dir: string }
  | { kind: "rename"; fromDir: string; fromName: string; toDir: string; toName: string }
  | { kind: "unlink"; dir: string; name: string };

/** A disk operation, or a note of something the workload observed (an acknowledgement) between two. */
export type TraceEntry = DiskOp | { kind: "ack"; id: string };

type Change = Extract<DiskOp, { kind: "write" | "truncate" }>;
type Entry = { type: "file"; node: number } | { type: "dir" };

interface FileNode {
  volatile: Uint8Array;
  durable: Uint8Array;
  /** Writes and truncations since the last fsync, in order. */
  pending: Change[];
}

export type CrashPolicy = "synced" | "torn-prefix" | "random-subset" | "process" | "names-ahead";
export const CRASH_POLICIES: readonly CrashPolicy[] = [
  "synced",
  "torn-prefix",
  "random-subset",
  "process",
  "names-ahead",
];

function applyChange(content: Uint8Array, change: Change, tornAt?: number): Uint8Array {
  if (change.kind === "truncate") {
    const out = new Uint8Array(change.length);
    out.set(content.subarray(0, Math.min(change.length, content.length)));
    return out;
  }
  const data = tornAt === undefined ? change.data : change.data.subarray(0, tornAt);
  const end = Math.max(content.length, change.position + data.length);
  const out = new Uint8Array(end);
  out.set(content);
  out.set(data, change.position);
  return out;
}

/** The disk as the model sees it: current (volatile) and durable names and contents. */
export class DiskModel {
  readonly files = new Map<number, FileNode>();
  readonly volatileDirs = new Map<string, Map<string, Entry>>();
  readonly durableDirs = new Map<string, Map<string, Entry>>();
  private nextNode = 1;

  constructor(readonly root: string) {}

  /** Takes what is on disk under `root` as durable (the state before the workload starts). */
  static scan(root: string, skip: (name: string) => boolean): DiskModel {
    const model = new DiskModel(root);
    const walk = (dir: string) => {
      const entries = new Map<string, Entry>();
      for (const name of readdirSync(dir)) {
        if (skip(name)) continue;
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
          entries.set(name, { type: "dir" });
          walk(path);
        } else {
          const node = model.newNode();
          const content = new Uint8Array(readFileSync(path));
          model.files.set(node, { volatile: content, durable: content, pending: [] });
          entries.set(name, { type: "file", node });
        }
      }
      model.volatileDirs.set(dir, entries);
      model.durableDirs.set(dir, new Map(entries));
    };
    walk(root);
    return model;
  }

  newNode(): number {
    return this.nextNode++;
  }

  lookup(path: string): number | undefined {
    const entry = this.volatileDirs.get(dirname(path))?.get(basename(path));
    return entry?.type === "file" ? entry.node : undefined;
  }

  private dir(path: string): Map<string, Entry> {
    const entries = this.volatileDirs.get(path);
    if (!entries) throw new Error(`crash model: no directory ${path}`);
    return entries;
  }

  private file(node: number): FileNode {
    const file = this.files.get(node);
    if (!file) throw new Error(`crash model: no file node ${node}`);
    return file;
  }

  apply(op: DiskOp): void {
    switch (op.kind) {
      case "create":
        this.files.set(op.node, { volatile: new Uint8Array(0), durable: new Uint8Array(0), pending: [] });
        this.dir(op.dir).set(op.name, { type: "file", node: op.node });
        this.nextNode = Math.max(this.nextNode, op.node + 1);
        return;
      case "mkdir": {
        this.dir(op.dir).set(op.name, { type: "dir" });
        const path = join(op.dir, op.name);
        this.volatileDirs.set(path, new Map());
        this.durableDirs.set(path, new Map());
        return;
      }
      case "write":
      case "truncate": {
        const file = this.file(op.node);
        file.volatile = applyChange(file.volatile, op);
        file.pending.push(op);
        return;
      }
      case "sync": {
        const file = this.file(op.node);
        file.durable = file.volatile;
        file.pending = [];
        return;
      }
      case "syncDir":
        this.durableDirs.set(op.dir, new Map(this.dir(op.dir)));
        return;
      case "rename": {
        const from = this.dir(op.fromDir);
        const entry = from.get(op.fromName);
        if (!entry) throw new Error(`crash model: rename of missing ${op.fromName}`);
        from.delete(op.fromName);
        this.dir(op.toDir).set(op.toName, entry);
        return;
      }
      case "unlink":
        this.dir(op.dir).delete(op.name);
        return;
    }
  }

  /** What one file holds after a crash under `policy`. */
  private crashedContent(file: FileNode, policy: CrashPolicy, random: () => number): Uint8Array {
    if (policy === "process") return file.volatile;
    let content = file.durable;
    if (policy === "synced" || policy === "names-ahead" || !file.pending.length) return content;
    const tear = (change: Change) =>
      change.kind === "write" && change.data.length > 1
        ? Math.floor(random() * change.data.length)
        : undefined;
    if (policy === "torn-prefix") {
      const kept = Math.floor(random() * (file.pending.length + 1));
      file.pending.slice(0, kept).forEach((change) => {
        content = applyChange(content, change);
      });
      const torn = file.pending[kept];
      if (torn) content = applyChange(content, torn, tear(torn));
      return content;
    }
    for (const change of file.pending) {
      if (random() < 0.5) continue;
      content = applyChange(content, change, random() < 0.3 ? tear(change) : undefined);
    }
    return content;
  }

  /** Writes the directory tree a crash now would leave, under `out`; returns the number of files. */
  materialize(out: string, policy: CrashPolicy, random: () => number): number {
    const names = policy === "process" || policy === "names-ahead" ? this.volatileDirs : this.durableDirs;
    let count = 0;
    const walk = (dir: string, target: string) => {
      mkdirSync(target, { recursive: true });
      for (const [name, entry] of names.get(dir) ?? []) {
        if (entry.type === "dir") {
          walk(join(dir, name), join(target, name));
          continue;
        }
        writeFileSync(join(target, name), this.crashedContent(this.file(entry.node), policy, random));
        count++;
      }
    };
    walk(this.root, out);
    return count;
  }
}

/**
 * The recording StoreFs. Operations go to the real file system (so the store reads back what it wrote) and
 * into `trace`; `model` follows the trace live to map paths to file nodes. `delay` spaces out fsyncs so that
 * group commits and checkpoints interleave differently from run to run.
 */
export class CrashFs implements StoreFs {
  readonly trace: TraceEntry[] = [];
  readonly model: DiskModel;
  /** The state before the first operation, kept apart to replay the trace on. */
  readonly start: DiskModel;
  private readonly fds = new Map<number, number>();

  constructor(
    readonly root: string,
    private readonly delay: () => number = () => 0,
    private readonly inner: StoreFs = nodeStoreFs,
  ) {
    this.root = resolve(root);
    const skip = (name: string) => name === "relevo.lock";
    this.model = DiskModel.scan(this.root, skip);
    this.start = DiskModel.scan(this.root, skip);
  }

  private record(op: DiskOp): void {
    this.trace.push(op);
    this.model.apply(op);
  }

  /** Notes an acknowledgement at this point of the trace. */
  ack(id: string): void {
    this.trace.push({ kind: "ack", id });
  }

  private node(fd: number): number {
    const node = this.fds.get(fd);
    if (node === undefined) throw new Error(`crash fs: unknown fd ${fd}`);
    return node;
  }

  private async pause(): Promise<void> {
    const ms = this.delay();
    if (ms > 0) await Bun.sleep(ms);
    else await new Promise<void>((done) => setImmediate(done));
  }

  open(path: string, create: boolean): number {
    const full = resolve(path);
    let node = this.model.lookup(full);
    const fd = this.inner.open(full, create);
    if (node === undefined) {
      node = this.model.newNode();
      this.record({ kind: "create", dir: dirname(full), name: basename(full), node });
    }
    this.fds.set(fd, node);
    return fd;
  }
  openRead(path: string): number {
    const full = resolve(path);
    const fd = this.inner.openRead(full);
    const node = this.model.lookup(full);
    if (node !== undefined) this.fds.set(fd, node);
    return fd;
  }
  write(fd: number, data: Uint8Array, position: number): void {
    this.inner.write(fd, data, position);
    this.record({ kind: "write", node: this.node(fd), position, data: data.slice() });
  }
  read(fd: number, into: Uint8Array, position: number): number {
    return this.inner.read(fd, into, position);
  }
  size(fd: number): number {
    return this.inner.size(fd);
  }
  truncate(fd: number, length: number): void {
    this.inner.truncate(fd, length);
    this.record({ kind: "truncate", node: this.node(fd), length });
  }
  async sync(fd: number): Promise<void> {
    this.record({ kind: "sync", node: this.node(fd) });
    await this.pause();
  }
  async syncDir(dir: string): Promise<void> {
    this.record({ kind: "syncDir", dir: resolve(dir) });
    await this.pause();
  }
  close(fd: number): void {
    this.fds.delete(fd);
    this.inner.close(fd);
  }
  readdir(dir: string): string[] {
    return this.inner.readdir(dir);
  }
  async unlink(path: string): Promise<void> {
    const full = resolve(path);
    await this.inner.unlink(full);
    this.record({ kind: "unlink", dir: dirname(full), name: basename(full) });
  }
  rename(from: string, to: string): void {
    const a = resolve(from);
    const b = resolve(to);
    this.inner.rename(a, b);
    this.record({
      kind: "rename",
      fromDir: dirname(a),
      fromName: basename(a),
      toDir: dirname(b),
      toName: basename(b),
    });
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  mkdir(dir: string): void {
    const full = resolve(dir);
    const missing: string[] = [];
    for (let at = full; !this.inner.exists(at); at = dirname(at)) missing.unshift(at);
    this.inner.mkdir(full);
    for (const path of missing) this.record({ kind: "mkdir", dir: dirname(path), name: basename(path) });
  }
  probeWritable(dir: string): void {
    this.inner.probeWritable(dir);
  }
}

/** Every crash point of a recorded run: the model after k disk operations, with what was acknowledged. */
export function* crashPoints(
  start: DiskModel,
  trace: readonly TraceEntry[],
): Generator<{ index: number; model: DiskModel; acked: string[] }> {
  const acked: string[] = [];
  let index = 0;
  let at = 0;
  // Acks noted before the first disk operation count for the crash before it.
  const takeAcks = () => {
    while (at < trace.length && trace[at]?.kind === "ack") {
      acked.push((trace[at] as { id: string }).id);
      at++;
    }
  };
  takeAcks();
  yield { index, model: start, acked: [...acked] };
  while (at < trace.length) {
    const op = trace[at++] as DiskOp;
    start.apply(op);
    index++;
    takeAcks();
    yield { index, model: start, acked: [...acked] };
  }
}
