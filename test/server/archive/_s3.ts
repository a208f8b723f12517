// The S3 side of the archive tests, all on 127.0.0.1: s3rver (a real S3 API over files, which does not
// check signatures), and a stand-in that fails the way real services do (refused keys, a stalled upload, an
// object that reads back different).

import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { S3Client } from "bun";
import { REPO, tempDir } from "../../helpers/server.ts";

export const KEYS = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };

export interface S3Server {
  endpoint: string;
  client(bucket?: string): S3Client;
  stop(): Promise<void>;
}

const NODE = Bun.which("node");

/** s3rver in a Node child process (its home runtime), stopped by closing its stdin. */
export async function startS3(buckets = ["relevo"]): Promise<S3Server> {
  if (!NODE) throw new Error("node is needed to run s3rver");
  const proc = Bun.spawn(
    [NODE, join(import.meta.dir, "_s3rver.mjs"), tempDir("relevo-s3-"), buckets.join(",")],
    {
      cwd: REPO,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 15_000;
  while (!/port (\d+)/.test(text)) {
    const next = await Promise.race([
      reader.read(),
      Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null),
    ]);
    if (!next || next.done) {
      proc.kill("SIGKILL");
      await proc.exited;
      throw new Error(`s3rver did not start: ${text}`);
    }
    text += new TextDecoder().decode(next.value);
  }
  reader.releaseLock();
  const port = Number(/port (\d+)/.exec(text)?.[1]);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    client: (bucket = "relevo") =>
      new S3Client({
        endpoint,
        bucket,
        accessKeyId: KEYS.AWS_ACCESS_KEY_ID,
        secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
      }),
    async stop() {
      proc.stdin.end();
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

export type StandInMode = "refuse" | "stall" | "corrupt";

export interface StandIn {
  endpoint: string;
  /** Requests seen, as "METHOD /path". */
  seen: string[];
  /** Resolves at the first upload request (a PUT or a multipart POST). */
  uploading: Promise<void>;
  stop(): void;
}

/**
 * refuse: every request answered 403 InvalidAccessKeyId, as S3 does for unknown keys. stall: uploads are
 * read never and answered never. corrupt: everything passed to `upstream`, but an object's GET body is
 * replaced by another gzip (the stat still matches): what a bucket that lost or mangled data looks like.
 */
export function startStandIn(mode: StandInMode, upstream?: string): StandIn {
  const seen: string[] = [];
  let started: () => void = () => {};
  const uploading = new Promise<void>((done) => {
    started = done;
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      seen.push(`${request.method} ${url.pathname}`);
      if (request.method === "PUT" || request.method === "POST") started();
      if (mode === "refuse") {
        const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`;
        return new Response(request.method === "HEAD" ? null : xml, {
          status: 403,
          headers: { "content-type": "application/xml" },
        });
      }
      if (mode === "stall" && (request.method === "PUT" || request.method === "POST")) {
        return await new Promise<Response>(() => {});
      }
      const headers = new Headers(request.headers);
      headers.delete("host");
      const body =
        request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer();
      const answer = await fetch(`${upstream}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body,
      });
      if (mode === "corrupt" && request.method === "GET" && answer.ok && url.pathname.endsWith(".gz")) {
        await answer.arrayBuffer();
        return new Response(gzipSync(Buffer.from("[\n]\n")), {
          status: 200,
          headers: { "content-type": "application/gzip" },
        });
      }
      return answer;
    },
  });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    seen,
    uploading,
    stop: () => void server.stop(true),
  };
}

/** A day file as the store writes it: `reports` elements of about `size` bytes each. */
export function dayText(ip: string, date: string, reports: number, size = 200): string {
  const lines: string[] = [];
  for (let i = 0; i < reports; i++) {
    const id = `0190a000-0000-7000-8000-${String(i).padStart(12, "0")}`;
    const at = `${date}T${String(i % 24).padStart(2, "0")}:00:00.000Z`;
    const filler = "x".repeat(Math.max(0, size - 120));
    lines.push(
      `{"report_id":"${id}","received_at":"${at}","source_ip":"${ip}","schema_version":1,"note":"${filler}"}`,
    );
  }
  return lines.length ? `[\n${lines.join(",\n")}\n]\n` : "[\n]\n";
}

/** The Debian awscli (or s3cmd) on PATH, to read objects back with a tool that is not Bun's. */
export const AWS = Bun.which("aws");
export const S3CMD = Bun.which("s3cmd");

/** An object's bytes as fetched by awscli or s3cmd, gunzipped by gunzip. */
export async function readBackWithTool(endpoint: string, bucket: string, key: string): Promise<string> {
  const url = `s3://${bucket}/${key}`;
  const port = new URL(endpoint).host;
  const fetchCommand = AWS
    ? `aws --endpoint-url ${endpoint} s3 cp ${url} -`
    : `s3cmd --host=${port} --host-bucket=${port} --no-ssl --access_key=${KEYS.AWS_ACCESS_KEY_ID} --secret_key=${KEYS.AWS_SECRET_ACCESS_KEY} get ${url} -`;
  const proc = Bun.spawn(["sh", "-c", `${fetchCommand} | gunzip`], {
    env: {
      ...process.env,
      ...KEYS,
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`reading ${url} back failed: ${err}`);
  return out;
}

/** Lists keys with the same tool. */
export async function listWithTool(endpoint: string, bucket: string, prefix: string): Promise<string> {
  const port = new URL(endpoint).host;
  const command = AWS
    ? ["aws", "--endpoint-url", endpoint, "s3", "ls", "--recursive", `s3://${bucket}/${prefix}`]
    : [
        "s3cmd",
        `--host=${port}`,
        `--host-bucket=${port}`,
        "--no-ssl",
        `--access_key=${KEYS.AWS_ACCESS_KEY_ID}`,
        `--secret_key=${KEYS.AWS_SECRET_ACCESS_KEY}`,
        "ls",
        "--recursive",
        `s3://${bucket}/${prefix}`,
      ];
  const proc = Bun.spawn(command, {
    env: {
      ...process.env,
      ...KEYS,
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`listing failed: ${await new Response(proc.stderr).text()}`);
  return out;
}
