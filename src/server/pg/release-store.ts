// Agent releases in PostgreSQL, so every server of a fleet offers the same ones and serves their downloads:
// the metadata as relevo.db keeps it, the executables in 1 MiB bytea chunks written in the same transaction
// (a release is there whole or not at all) and streamed out one chunk at a time (no file held in memory).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SQL } from "bun";
import { EXECUTABLE_NAME } from "../../shared/release/manifest.ts";
import { parseSemver } from "../../shared/semver.ts";
import {
  type AddOptions,
  newestFirst,
  type Offer,
  pickOffer,
  ReleaseError,
  type ReleaseRow,
  type Releases,
  verifySource,
} from "../releases/release-store.ts";

const CHUNK = 1024 * 1024;

interface RawRelease extends Omit<ReleaseRow, "added_at"> {
  added_at: string | number;
}

function releaseOf(raw: RawRelease): ReleaseRow {
  return { ...raw, added_at: Number(raw.added_at), percent: Number(raw.percent) };
}

export class PgReleaseStore implements Releases {
  constructor(private readonly sql: SQL) {}

  async add(source: string, options: AddOptions): Promise<{ row: ReleaseRow; files: string[] }> {
    const { version, row, files, present } = await verifySource(source, options);
    await this.sql.begin(async (tx) => {
      const [inserted] = await tx`INSERT INTO releases
          (version, released_at, added_at, key_id, percent, changelog, sums, signature, url_base)
        VALUES (${row.version}, ${row.released_at}, ${row.added_at}, ${row.key_id}, ${row.percent},
          ${row.changelog}, ${row.sums}, ${row.signature}, ${row.url_base})
        ON CONFLICT (version) DO NOTHING RETURNING version`;
      if (!inserted) throw new ReleaseError(`release ${version} is already imported`);
      for (const name of present) {
        const bytes = readFileSync(join(source, name));
        for (let n = 0; n * CHUNK < bytes.length || n === 0; n += 1) {
          const part = bytes.subarray(n * CHUNK, (n + 1) * CHUNK);
          await tx`INSERT INTO release_chunks (version, file, n, data) VALUES (${version}, ${name}, ${n}, ${part})`;
        }
      }
    });
    return { row, files };
  }

  async get(version: string): Promise<ReleaseRow | null> {
    const [row] = await this.sql`SELECT * FROM releases WHERE version = ${version}`;
    return row ? releaseOf(row as RawRelease) : null;
  }

  async list(): Promise<ReleaseRow[]> {
    const rows: RawRelease[] = await this.sql`SELECT * FROM releases`;
    return newestFirst(rows.map(releaseOf));
  }

  async remove(version: string): Promise<boolean> {
    const rows = await this.sql`DELETE FROM releases WHERE version = ${version} RETURNING version`;
    return rows.length > 0;
  }

  async setPercent(version: string, percent: number): Promise<boolean> {
    const rows = await this
      .sql`UPDATE releases SET percent = ${percent} WHERE version = ${version} RETURNING version`;
    return rows.length > 0;
  }

  async offerFor(agentId: number, current: string, platform: string): Promise<Offer | null> {
    return pickOffer(await this.list(), agentId, current, platform);
  }

  /** The file's chunks as a stream, read one by one as the client takes them; null when there is none. */
  async download(version: string, file: string): Promise<ReadableStream<Uint8Array> | null> {
    if (!parseSemver(version) || !EXECUTABLE_NAME.test(file)) return null;
    const [count] = await this
      .sql`SELECT count(*)::int AS n FROM release_chunks WHERE version = ${version} AND file = ${file}`;
    const chunks = Number(count?.n ?? 0);
    if (chunks === 0) return null;
    const sql = this.sql;
    let n = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const [row] = await sql`SELECT data FROM release_chunks
          WHERE version = ${version} AND file = ${file} AND n = ${n}`;
        // Removed meanwhile: the download ends in an error rather than a short file that looks whole.
        if (!row) throw new Error(`release ${version} was removed during the download`);
        controller.enqueue(new Uint8Array(row.data as Uint8Array));
        n += 1;
        if (n >= chunks) controller.close();
      },
    });
  }
}
