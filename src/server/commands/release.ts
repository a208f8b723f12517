// `relevo-server release keygen|add|list|remove|rollout`: signing keys and the agent releases the update
// check offers. keygen writes minisign's formats (the secret key stays with whoever signs); add imports a
// build directory only when SHA256SUMS.minisig verifies with a trusted public key and every executable
// matches its signed hash.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { type ArgsDef, defineCommand } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { errorMessage } from "../../shared/errors.ts";
import { type PublicKey, parsePublicKey } from "../../shared/release/minisign.ts";
import { generateKeyPair } from "../../shared/release/minisign-sign.ts";
import { parseSemver } from "../../shared/semver.ts";
import { openStateDb } from "../db/state-db.ts";
import { ReleaseError, ReleaseStore, type Releases } from "../releases/release-store.ts";
import { databaseArg, databaseUrl, withDatabase } from "./_database.ts";
import { dataDir } from "./token.ts";

const dataArg = {
  data: { type: "string", default: "./data", description: "The server's data directory" },
  ...databaseArg,
} as const satisfies ArgsDef;

function withReleases<T>(
  args: { data: string; database?: string },
  work: (releases: Releases) => Promise<T> | T,
): Promise<T> {
  const asUsage = (error: unknown) => {
    throw error instanceof ReleaseError ? new UsageError(error.message) : error;
  };
  const url = databaseUrl(args);
  if (url) {
    return withDatabase(url, async (sql) => {
      const { PgReleaseStore } = await import("../pg/release-store.ts");
      return await work(new PgReleaseStore(sql));
    }).catch(asUsage);
  }
  const dir = dataDir(args.data);
  const state = openStateDb(dir, { now: new Date() });
  return Promise.resolve()
    .then(() => work(new ReleaseStore(state.db, dir)))
    .catch(asUsage)
    .finally(() => state.close());
}

function percentOf(text: string | undefined): number {
  if (text === undefined) return 100;
  if (!/^\d{1,3}$/.test(text) || Number(text) < 1 || Number(text) > 100) {
    throw new UsageError(`--percent must be a whole number from 1 to 100, got "${text}"`);
  }
  return Number(text);
}

function versionArg(text: string): string {
  if (!parseSemver(text)) throw new UsageError(`${text} is not a version such as 1.2.0`);
  return text;
}

function readKeys(files: string | string[] | undefined): PublicKey[] {
  const list = (files === undefined ? [] : Array.isArray(files) ? files : [files])
    .flatMap((one) => one.split(","))
    .filter(Boolean);
  if (!list.length)
    throw new UsageError("add needs --public-key FILE: the key the release must be signed with");
  return list.map((file) => {
    try {
      return parsePublicKey(readFileSync(file, "utf8"));
    } catch (error) {
      throw new UsageError(`--public-key ${file}: ${errorMessage(error)}`);
    }
  });
}

const keygen = defineCommand({
  meta: { name: "keygen", description: "Make an Ed25519 signing key pair in minisign's format" },
  args: {
    out: {
      type: "string",
      default: "relevo-release",
      description: "Writes OUT.key (secret, mode 0600) and OUT.pub",
    },
    force: { type: "boolean", description: "Overwrite existing files" },
    "print-public": { type: "boolean", description: "Print the public key of an existing OUT.pub instead" },
  },
  async run({ args }) {
    const pub = `${args.out}.pub`;
    const key = `${args.out}.key`;
    if (args["print-public"]) {
      if (!existsSync(pub))
        throw new UsageError(`${pub}: no such file (run release keygen --out ${args.out})`);
      process.stdout.write(readFileSync(pub, "utf8"));
      return;
    }
    if (!args.force && (existsSync(pub) || existsSync(key))) {
      throw new UsageError(`${key} or ${pub} exists already; pass --force to replace them`);
    }
    const pair = await generateKeyPair();
    writeFileSync(key, pair.secretKeyText, { mode: 0o600 });
    writeFileSync(pub, pair.publicKeyText, { mode: 0o644 });
    console.error(
      `key ${pair.id}: secret ${resolve(key)} (keep it with whoever signs), public ${resolve(pub)}`,
    );
    process.stdout.write(pair.publicKeyText);
  },
});

const add = defineCommand({
  meta: {
    name: "add",
    description: "Import a signed release directory (executables, SHA256SUMS, SHA256SUMS.minisig)",
  },
  args: {
    ...dataArg,
    dir: { type: "positional", required: true, description: "The release directory (e.g. dist)" },
    "public-key": {
      type: "string",
      description: "The trusted public key file(s), comma-separated (two during a key rotation)",
    },
    changelog: { type: "string", description: "A file whose text agents are shown as the changelog" },
    percent: {
      type: "string",
      description: "Offer it to this share of the fleet first (1-100, default 100)",
    },
    url: {
      type: "string",
      description: "Agents download from this base URL (e.g. a GitHub Release) instead of relevo",
    },
  },
  run({ args }) {
    const keys = readKeys(args["public-key"] as string | string[] | undefined);
    const percent = percentOf(args.percent);
    const changelog = args.changelog ? readFileSync(args.changelog, "utf8").slice(0, 64 * 1024) : "";
    if (args.url !== undefined && !/^https?:\/\/[^\s]+$/.test(args.url)) {
      throw new UsageError(`--url must be an http(s) URL, got "${args.url}"`);
    }
    return withReleases(args, async (releases) => {
      const { row, files } = await releases.add(resolve(args.dir), {
        keys,
        changelog,
        percent,
        urlBase: args.url ?? null,
        now: new Date(),
      });
      console.log(
        `imported release ${row.version} (signed by key ${row.key_id} on ${row.released_at}; ${files.join(", ")}), offered to ${row.percent} % of the agents`,
      );
    });
  },
});

const list = defineCommand({
  meta: { name: "list", description: "List imported releases, newest first" },
  args: { ...dataArg },
  run({ args }) {
    return withReleases(args, async (releases) => {
      const rows = await releases.list();
      if (!rows.length) {
        console.log("no releases (relevo-server release add DIR --public-key FILE imports one)");
        return;
      }
      console.log(["VERSION".padEnd(14), "SIGNED".padEnd(26), "KEY".padEnd(18), "PERCENT"].join(" "));
      for (const row of rows) {
        console.log(
          [
            row.version.padEnd(14),
            row.released_at.padEnd(26),
            row.key_id.padEnd(18),
            String(row.percent),
          ].join(" "),
        );
      }
    });
  },
});

const remove = defineCommand({
  meta: { name: "remove", description: "Remove a release: agents are no longer offered it" },
  args: { ...dataArg, version: { type: "positional", required: true, description: "The version" } },
  run({ args }) {
    const version = versionArg(args.version);
    return withReleases(args, async (releases) => {
      if (!(await releases.remove(version)))
        throw new UsageError(`no release ${version} (see: relevo-server release list)`);
      console.log(`removed release ${version}`);
    });
  },
});

const rollout = defineCommand({
  meta: { name: "rollout", description: "Change the share of the fleet a release is offered to" },
  args: {
    ...dataArg,
    version: { type: "positional", required: true, description: "The version" },
    percent: { type: "string", required: true, description: "1-100" },
  },
  run({ args }) {
    const version = versionArg(args.version);
    const percent = percentOf(args.percent);
    return withReleases(args, async (releases) => {
      if (!(await releases.setPercent(version, percent))) throw new UsageError(`no release ${version}`);
      console.log(`release ${version} is offered to ${percent} % of the agents`);
    });
  },
});

export default defineCommand({
  meta: { name: "release", description: "Signing keys and the agent releases offered for self-update" },
  subCommands: { keygen, add, list, remove, rollout },
});
