// Archive settings (flags over env, keys from AWS_* or a credentials file, never a flag), the schedule's
// slots and backoff, and relevo.db migrations numbered with gaps (the manifest is version 5).
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { lastArchivableDate } from "../../../src/server/archive/archiver.ts";
import { retryDelayMs } from "../../../src/server/archive/manifest.ts";
import { nextSlot, runBackoffMs } from "../../../src/server/archive/schedule.ts";
import { archiveSettings, parseArchiveUrl } from "../../../src/server/archive/settings.ts";
import { serverSpec } from "../../../src/server/commands/install.ts";
import { migrate } from "../../../src/server/db/migrations.ts";
import { MIGRATIONS } from "../../../src/server/db/schema.ts";
import { tempDir } from "../../helpers/server.ts";

const KEYS = { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "SECRET" };

describe("archive settings", () => {
  test("off without a URL; flags win over RELEVO_ARCHIVE_* which win over AWS_*", () => {
    expect(archiveSettings({}, KEYS)).toBeNull();
    const fromEnv = archiveSettings(
      {},
      {
        ...KEYS,
        RELEVO_ARCHIVE_URL: "s3://env-bucket/a/b/",
        AWS_REGION: "eu-west-3",
        AWS_ENDPOINT_URL: "http://127.0.0.1:9000",
      },
    );
    expect(fromEnv).toMatchObject({
      bucket: "env-bucket",
      prefix: "a/b",
      region: "eu-west-3",
      endpoint: "http://127.0.0.1:9000",
      afterDays: 7,
      atMinutes: 210,
      keepLocal: false,
      duty: 0.25,
      credentials: { accessKeyId: "AKID", secretAccessKey: "SECRET" },
    });
    const flags = archiveSettings(
      {
        "archive-url": "s3://flag-bucket",
        "archive-region": "us-east-2",
        "archive-after-days": "30",
        "archive-at": "23:05",
        "archive-keep-local": true,
      },
      {
        ...KEYS,
        RELEVO_ARCHIVE_URL: "s3://env-bucket/x",
        RELEVO_ARCHIVE_REGION: "eu-north-1",
        AWS_SESSION_TOKEN: "TOKEN",
      },
    );
    expect(flags).toMatchObject({
      bucket: "flag-bucket",
      prefix: "",
      region: "us-east-2",
      afterDays: 30,
      atMinutes: 23 * 60 + 5,
      keepLocal: true,
      credentials: { sessionToken: "TOKEN" },
    });
  });

  test("a credentials file by path, with AWS_PROFILE choosing the section", () => {
    const path = join(tempDir("relevo-keys-"), "credentials");
    writeFileSync(
      path,
      "# comment\n[default]\naws_access_key_id = D1\naws_secret_access_key = D2\n\n[profile ops]\naws_access_key_id=O1\naws_secret_access_key=O2\naws_session_token=O3\n",
    );
    const flags = { "archive-url": "s3://bucket-a", "archive-credentials-file": path };
    expect(archiveSettings(flags, KEYS)?.credentials).toEqual({ accessKeyId: "D1", secretAccessKey: "D2" });
    expect(archiveSettings(flags, { AWS_PROFILE: "ops" })?.credentials).toEqual({
      accessKeyId: "O1",
      secretAccessKey: "O2",
      sessionToken: "O3",
    });
    expect(() => archiveSettings(flags, { AWS_PROFILE: "missing" })).toThrow("has no aws_access_key_id");
    expect(() => archiveSettings({ ...flags, "archive-credentials-file": `${path}.nope` }, {})).toThrow(
      "cannot read",
    );
  });

  test("bad values are refused, naming the flag", () => {
    const url = { "archive-url": "s3://bucket-a" };
    expect(() => archiveSettings(url, {})).toThrow("the archive needs credentials");
    expect(() => parseArchiveUrl("https://bucket/x")).toThrow(
      "--archive-url must look like s3://bucket/prefix",
    );
    expect(() => parseArchiveUrl("s3://UPPER/x")).toThrow("--archive-url");
    expect(() => parseArchiveUrl("s3://bucket-a/../x")).toThrow(". or ..");
    expect(() => archiveSettings({ ...url, "archive-at": "25:00" }, KEYS)).toThrow(
      "--archive-at must be HH:MM",
    );
    expect(() => archiveSettings({ ...url, "archive-after-days": "0" }, KEYS)).toThrow(
      "--archive-after-days",
    );
    expect(() => archiveSettings({ ...url, "archive-endpoint": "ftp://x" }, KEYS)).toThrow(
      "--archive-endpoint",
    );
  });

  test("the last day that may be archived: after-days back, never today, an hour's grace after midnight", () => {
    expect(lastArchivableDate(new Date("2026-03-10T12:00:00Z"), "utc", 7)).toBe("2026-03-03");
    expect(lastArchivableDate(new Date("2026-03-10T12:00:00Z"), "utc", 1)).toBe("2026-03-09");
    expect(lastArchivableDate(new Date("2026-03-10T00:30:00Z"), "utc", 1)).toBe("2026-03-08");
  });

  test("daily slots, run backoff and file backoff", () => {
    expect(nextSlot(new Date("2026-03-10T02:00:00Z"), 210, "utc").toISOString()).toBe(
      "2026-03-10T03:30:00.000Z",
    );
    expect(nextSlot(new Date("2026-03-10T03:30:00Z"), 210, "utc").toISOString()).toBe(
      "2026-03-11T03:30:00.000Z",
    );
    expect([1, 2, 3, 20].map(runBackoffMs)).toEqual([300_000, 600_000, 1_200_000, 6 * 3600_000]);
    expect([1, 2, 3, 20].map(retryDelayMs)).toEqual([600_000, 1_200_000, 2_400_000, 24 * 3600_000]);
  });

  test("migrations may leave gaps in their numbers; the archive manifest is created", () => {
    const db = new Database(":memory:");
    const applied = migrate(db, MIGRATIONS, new Date());
    expect(applied).toEqual(MIGRATIONS.map((m) => m.version));
    const tables = db.query("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    expect(tables.map((t) => t.name)).toContain("archive_files");
    expect(migrate(db, MIGRATIONS, new Date())).toEqual([]);
    const outOfOrder = [
      { version: 2, name: "b", up() {} },
      { version: 2, name: "c", up() {} },
    ];
    expect(() => migrate(new Database(":memory:"), outOfOrder, new Date())).toThrow("numbered out of order");
    db.close();
  });
});

test("install hands the archive settings on: values as flags, the credentials file as a file of the service's own", () => {
  const spec = serverSpec(
    {
      "archive-url": "s3://inventory/relevo",
      "archive-endpoint": "https://s3.example.internal",
      "archive-after-days": "14",
      "archive-at": "03:30",
      "archive-keep-local": true,
      "archive-logs": true,
      "archive-credentials-file": "/etc/relevo/aws-credentials",
    },
    { platform: "linux", cwd: "/" },
  );
  const args = spec.args("/var/lib/relevo");
  expect(args).toEqual(
    expect.arrayContaining([
      "--archive-url",
      "s3://inventory/relevo",
      "--archive-endpoint",
      "https://s3.example.internal",
      "--archive-after-days",
      "14",
      "--archive-at",
      "03:30",
      "--archive-keep-local",
      "--archive-logs",
      "--archive-credentials-file",
    ]),
  );
  expect(args).toContainEqual({ file: "/etc/relevo/aws-credentials", name: "archive-credentials" });
});
