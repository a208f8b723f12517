// Installed software on Linux, from every package database present, read in-process: dpkg, rpm
// (rpmdb.sqlite through bun:sqlite; `rpm -qa` only for an older Berkeley DB / ndb database), apk, pacman,
// snap and flatpak. A database that exists but cannot be read is named in `errors`; the others still count.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Software, SoftwareItem } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readFailure } from "./_files.ts";
import { clip, isoOrNull } from "./_limits.ts";
import { sortAndHash } from "./_list-hash.ts";
import { parseApkInstalled, parseDpkgStatus, parsePacmanDesc } from "./_packages.ts";
import { parseRpmQuery, RPM_QUERY_FORMAT, readRpmSqlite } from "./_rpmdb.ts";

export const SOFTWARE_KEYS = ["source", "user", "name", "arch", "version"] as const;

/** Runs `rpm -qa` for databases bun:sqlite cannot read; tests hand in recorded output. */
export type RpmQuery = () => Promise<string>;

const runRpm: RpmQuery = async () => {
  const proc = Bun.spawn(["rpm", "-qa", "--queryformat", RPM_QUERY_FORMAT], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`rpm -qa exited with ${code}: ${err.trim().slice(0, 200)}`);
  return out;
};

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";

/** dpkg keeps no install time; the mtime of the package's file list is when it was last unpacked. */
function dpkgInstallDates(root: string, items: SoftwareItem[]): void {
  const info = join(root, "var", "lib", "dpkg", "info");
  for (const item of items) {
    // Multi-Arch: same packages carry their architecture in the name. No exception for a missing one:
    // thrown and caught 3,000 times it would cost more than the stat.
    const stat =
      statSync(join(info, `${item.name}.list`), { throwIfNoEntry: false }) ??
      statSync(join(info, `${item.name}:${item.arch}.list`), { throwIfNoEntry: false });
    if (stat) item.install_date = isoOrNull(new Date(stat.mtimeMs));
  }
}

/** /snap/<name>/current/meta/snap.yaml of every mounted snap. */
function snaps(root: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const name of readdirSync(join(root, "snap"))) {
    const meta = join(root, "snap", name, "current", "meta", "snap.yaml");
    let yaml: string;
    try {
      yaml = readFileSync(meta, "utf8");
    } catch {
      continue; // /snap/bin and other directories that are no snap
    }
    const field = (key: string) =>
      new RegExp(`^${key}:[ \\t]*['"]?([^'"\\n]*)`, "m").exec(yaml)?.[1]?.trim() ?? "";
    // `architectures: [amd64]` or a block list under it; a snap without the key is built for amd64.
    const arch =
      field("architectures")
        .replace(/^\[|\]$/g, "")
        .split(",")[0]
        ?.trim() ||
      /^architectures:[ \t]*\n[ \t]*-[ \t]*(\S+)/m.exec(yaml)?.[1] ||
      "amd64";
    items.push({
      name: clip(field("name") || name),
      version: clip(field("version")),
      vendor: "",
      arch: clip(arch, 32),
      install_date: null,
      size_bytes: null,
      source: "snap",
    });
  }
  return items;
}

/** /var/lib/flatpak/app/<id>/<arch>/<branch>/active: system-wide flatpak applications. */
function flatpaks(root: string): SoftwareItem[] {
  const base = join(root, "var", "lib", "flatpak", "app");
  const items: SoftwareItem[] = [];
  for (const id of readdirSync(base)) {
    let current: string;
    try {
      current = readlinkSync(join(base, id, "current"));
    } catch {
      continue;
    }
    const [arch = "", branch = ""] = current.split("/");
    items.push({
      name: clip(id),
      version: clip(branch),
      vendor: "",
      arch: clip(arch, 32),
      install_date: null,
      size_bytes: null,
      source: "flatpak",
    });
  }
  return items;
}

/**
 * The text databases last parsed, by path: a running agent reads dpkg's 1 MB status file (and stats each
 * package's file list) again only when the file changed, not at every report. Items are never modified
 * after parsing, so the lists can be shared between reports.
 */
const parsedLists = new Map<string, { key: string; items: SoftwareItem[] }>();

interface LinuxSoftwareOptions {
  rpmQuery?: RpmQuery;
}

/** Every source present under `ctx.root`; `partial` hears of each one that exists but could not be read. */
export async function readLinuxSoftware(
  ctx: Pick<Context, "root" | "partial">,
  options: LinuxSoftwareOptions = {},
): Promise<SoftwareItem[]> {
  const items: SoftwareItem[] = [];
  const textSource = (parts: string[], parse: (text: string) => SoftwareItem[]) => {
    const path = join(ctx.root, ...parts);
    try {
      // dpkg and apk replace their database by a rename: the same inode, size and mtime is the same list.
      const stat = statSync(path);
      const key = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      let cached = parsedLists.get(path);
      if (cached?.key !== key) {
        cached = { key, items: parse(readFileSync(path, "utf8")) };
        parsedLists.set(path, cached);
      }
      items.push(...cached.items);
    } catch (error) {
      parsedLists.delete(path);
      if (!isMissing(error)) ctx.partial(readFailure(parts, error));
    }
  };
  textSource(["var", "lib", "dpkg", "status"], (text) => {
    const dpkg = parseDpkgStatus(text);
    dpkgInstallDates(ctx.root, dpkg);
    return dpkg;
  });
  textSource(["lib", "apk", "db", "installed"], parseApkInstalled);

  const rpmDirs = [
    ["usr", "lib", "sysimage", "rpm"],
    ["var", "lib", "rpm"],
  ];
  const sqlite = rpmDirs
    .map((parts) => [...parts, "rpmdb.sqlite"])
    .find((parts) => existsSync(join(ctx.root, ...parts)));
  if (sqlite) {
    try {
      items.push(...readRpmSqlite(join(ctx.root, ...sqlite)));
    } catch (error) {
      ctx.partial(readFailure(sqlite, error));
    }
  } else if (
    rpmDirs.some((parts) =>
      ["Packages", "Packages.db"].some((file) => existsSync(join(ctx.root, ...parts, file))),
    )
  ) {
    try {
      items.push(...parseRpmQuery(await (options.rpmQuery ?? runRpm)()));
    } catch (error) {
      ctx.partial(`rpm packages not read: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const dirSource = (parts: string[], read: () => SoftwareItem[]) => {
    try {
      items.push(...read());
    } catch (error) {
      if (!isMissing(error)) ctx.partial(readFailure(parts, error));
    }
  };
  dirSource(["var", "lib", "pacman", "local"], () => {
    const local = join(ctx.root, "var", "lib", "pacman", "local");
    return readdirSync(local)
      .map((entry) => {
        try {
          return parsePacmanDesc(readFileSync(join(local, entry, "desc"), "utf8"));
        } catch {
          return undefined; // ALPM_DB_VERSION and other plain files
        }
      })
      .filter((item) => item !== undefined);
  });
  dirSource(["snap"], () => snaps(ctx.root));
  dirSource(["var", "lib", "flatpak", "app"], () => flatpaks(ctx.root));
  return items;
}

/** The section: the hash of the whole sorted list and the list itself (the agent loop may leave it out). */
export function softwareSection(items: SoftwareItem[]): Software {
  // Sorted before the cut, so a list over the limit always loses the same entries.
  const hash = sortAndHash(items, SOFTWARE_KEYS);
  return { hash, items: items.slice(0, LIMITS.software) };
}

export async function softwareLinux(ctx: Context): Promise<Software> {
  return softwareSection(await readLinuxSoftware(ctx));
}
