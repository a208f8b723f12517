// Agent releases in the data directory: `release add` verifies a build directory (SHA256SUMS signed by a
// trusted key, every executable's hash) and copies its agent executables to <data>/releases/<version>/;
// the metadata (with the signed text verbatim) is in relevo.db. The update check picks from here.
import type { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  EXECUTABLE_NAME,
  SIGNATURE_FILE,
  SUMS_FILE,
  sha256Hex,
  verifyRelease,
} from "../../shared/release/manifest.ts";
import type { PublicKey } from "../../shared/release/minisign.ts";
import { compareSemver, parseSemver } from "../../shared/semver.ts";

export const RELEASES_DIR = "releases";
/** Platforms an agent names itself by: `<os>-<arch>`, the build's target names. */
export const PLATFORM = /^(linux|windows)-(x64|arm64)$/;

export interface ReleaseRow {
  version: string;
  released_at: string;
  added_at: number;
  key_id: string;
  percent: number;
  changelog: string;
  sums: string;
  signature: string;
  url_base: string | null;
}

export interface Offer {
  release: ReleaseRow;
  /** The agent executable's name for this platform, and its hash from the signed sums. */
  file: string;
  sha256: string;
}

export class ReleaseError extends Error {
  override name = "ReleaseError";
}

/** The agent executable of a platform: relevo-agent-linux-x64, relevo-agent-windows-x64.exe. */
export function agentFileFor(platform: string): string {
  return `relevo-agent-${platform}${platform.startsWith("windows-") ? ".exe" : ""}`;
}

/** Whether agent `agentId` is in the first `percent` of the fleet for `version` (stable per agent). */
export function inRollout(agentId: number, version: string, percent: number): boolean {
  if (percent >= 100) return true;
  const digest = new Bun.CryptoHasher("sha256").update(`${version}\0${agentId}`).digest();
  return digest.readUInt16BE(0) % 100 < percent;
}

type Maybe<T> = T | Promise<T>;

export interface AddOptions {
  keys: readonly PublicKey[];
  changelog: string;
  percent: number;
  urlBase: string | null;
  now: Date;
}

/** The releases the update check offers: the data directory's (below) or PostgreSQL's (pg/release-store.ts). */
export interface Releases {
  add(source: string, options: AddOptions): Promise<{ row: ReleaseRow; files: string[] }>;
  get(version: string): Maybe<ReleaseRow | null>;
  /** Newest first. */
  list(): Maybe<ReleaseRow[]>;
  remove(version: string): Maybe<boolean>;
  setPercent(version: string, percent: number): Maybe<boolean>;
  offerFor(agentId: number, current: string, platform: string): Maybe<Offer | null>;
  /** A served executable's bytes, or null when there is no such release file. */
  download(version: string, file: string): Maybe<Blob | ReadableStream<Uint8Array> | null>;
}

/** A release directory checked: signed by a trusted key, every executable present (unless --url) as signed. */
export interface VerifiedSource {
  version: string;
  row: ReleaseRow;
  /** The agent executables the sums name. */
  files: string[];
  /** Those of them in the directory (all of them without --url). */
  present: string[];
}

export async function verifySource(source: string, options: AddOptions): Promise<VerifiedSource> {
  const read = (name: string) => {
    const path = join(source, name);
    if (!existsSync(path)) throw new ReleaseError(`${source} has no ${name}`);
    return readFileSync(path, "utf8");
  };
  const sums = read(SUMS_FILE);
  const signature = read(SIGNATURE_FILE);
  const verified = await verifyRelease(sums, signature, options.keys).catch((error: Error) => {
    throw new ReleaseError(`${join(source, SIGNATURE_FILE)}: ${error.message}`);
  });
  const files = [...verified.sums.keys()].filter(
    (name) => EXECUTABLE_NAME.test(name) && name.startsWith("relevo-agent-"),
  );
  if (!files.length) throw new ReleaseError(`${SUMS_FILE} names no relevo-agent executable`);
  // Without a download base the files are served by relevo itself: each must be here, as signed.
  const present = files.filter((name) => existsSync(join(source, name)));
  if (!options.urlBase && present.length !== files.length) {
    const missing = files.filter((name) => !present.includes(name));
    throw new ReleaseError(
      `${source} lacks ${missing.join(", ")} (named in ${SUMS_FILE}); pass --url to serve them elsewhere`,
    );
  }
  for (const name of present) {
    const actual = sha256Hex(new Uint8Array(readFileSync(join(source, name))));
    if (actual !== verified.sums.get(name)) {
      throw new ReleaseError(
        `${name}: its SHA-256 ${actual} differs from the signed ${SUMS_FILE}; not imported`,
      );
    }
  }
  const row: ReleaseRow = {
    version: verified.version,
    released_at: verified.date,
    added_at: options.now.getTime(),
    key_id: verified.keyId,
    percent: options.percent,
    changelog: options.changelog,
    sums,
    signature,
    url_base: options.urlBase,
  };
  return { version: verified.version, row, files, present };
}

/** Newest first. */
export function newestFirst(rows: ReleaseRow[]): ReleaseRow[] {
  return rows.sort((a, b) => {
    const x = parseSemver(a.version);
    const y = parseSemver(b.version);
    return x && y ? compareSemver(y, x) : 0;
  });
}

/** The newest release (of `list`, newest first) newer than `current` with an executable for `platform` whose rollout includes the agent. */
export function pickOffer(
  list: readonly ReleaseRow[],
  agentId: number,
  current: string,
  platform: string,
): Offer | null {
  const own = parseSemver(current);
  if (!own) return null;
  const file = agentFileFor(platform);
  for (const release of list) {
    const version = parseSemver(release.version);
    if (!version || compareSemver(version, own) <= 0) break;
    if (!inRollout(agentId, release.version, release.percent)) continue;
    const line = release.sums
      .split("\n")
      .find((one) => one.trimEnd().endsWith(` ${file}`) || one.trimEnd().endsWith(`*${file}`));
    const sha256 = line?.slice(0, 64);
    if (sha256 && /^[0-9a-f]{64}$/.test(sha256)) return { release, file, sha256 };
  }
  return null;
}

export class ReleaseStore implements Releases {
  constructor(
    private readonly db: Database,
    private readonly dataDir: string,
  ) {}

  /** Where a release's files are; the version was checked as semver before it reaches a path. */
  dir(version: string): string {
    if (!parseSemver(version)) throw new ReleaseError(`${version} is not a version`);
    return join(this.dataDir, RELEASES_DIR, version);
  }

  async add(source: string, options: AddOptions): Promise<{ row: ReleaseRow; files: string[] }> {
    const { version, row, files, present } = await verifySource(source, options);
    if (this.get(version)) throw new ReleaseError(`release ${version} is already imported`);
    const final = this.dir(version);
    const work = `${final}.partial-${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true, mode: 0o700 });
    try {
      for (const name of present) copyFileSync(join(source, name), join(work, name));
      // The signed text verbatim next to the files: the directory is a release on its own.
      copyFileSync(join(source, SUMS_FILE), join(work, SUMS_FILE));
      copyFileSync(join(source, SIGNATURE_FILE), join(work, SIGNATURE_FILE));
      rmSync(final, { recursive: true, force: true });
      renameSync(work, final);
    } catch (error) {
      rmSync(work, { recursive: true, force: true });
      throw error;
    }
    this.db
      .query(
        "INSERT INTO releases (version, released_at, added_at, key_id, percent, changelog, sums, signature, url_base) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(
        row.version,
        row.released_at,
        row.added_at,
        row.key_id,
        row.percent,
        row.changelog,
        row.sums,
        row.signature,
        row.url_base,
      );
    return { row, files };
  }

  get(version: string): ReleaseRow | null {
    return this.db.query("SELECT * FROM releases WHERE version = ?").get(version) as ReleaseRow | null;
  }

  /** Newest first. */
  list(): ReleaseRow[] {
    return newestFirst(this.db.query("SELECT * FROM releases").all() as ReleaseRow[]);
  }

  remove(version: string): boolean {
    const removed = this.db.query("DELETE FROM releases WHERE version = ?").run(version).changes > 0;
    if (removed) rmSync(this.dir(version), { recursive: true, force: true });
    return removed;
  }

  setPercent(version: string, percent: number): boolean {
    return (
      this.db.query("UPDATE releases SET percent = ? WHERE version = ?").run(percent, version).changes > 0
    );
  }

  offerFor(agentId: number, current: string, platform: string): Offer | null {
    return pickOffer(this.list(), agentId, current, platform);
  }

  download(version: string, file: string): Blob | ReadableStream<Uint8Array> | null {
    const path = this.filePath(version, file);
    return path ? Bun.file(path) : null;
  }

  /** The path of a served file, or null: both parts are checked before they reach the path. */
  filePath(version: string, file: string): string | null {
    if (!parseSemver(version) || !EXECUTABLE_NAME.test(file) || !this.get(version)) return null;
    const path = join(this.dir(version), file);
    return existsSync(path) ? path : null;
  }
}
