// The FQDN against `hostname -f` itself: both run in a private mount and UTS namespace (unshare -m -u)
// with the host name, /etc/hosts, /etc/resolv.conf and /etc/nsswitch.conf of each case, the name server a
// tiny one on 127.0.0.1:53 inside this test.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const KNOWN = new Map([["web01.corp.example.test", [127, 0, 0, 9]]]);
const ZONE = "corp.example.test";

/** Answers A queries for KNOWN, "no data" for other types of a known name, NXDOMAIN for the rest. */
function answer(query: Uint8Array): Uint8Array {
  const view = new DataView(query.buffer, query.byteOffset, query.byteLength);
  const labels: string[] = [];
  let at = 12;
  while (query[at]) {
    const length = query[at] ?? 0;
    labels.push(new TextDecoder().decode(query.subarray(at + 1, at + 1 + length)));
    at += length + 1;
  }
  const type = view.getUint16(at + 1);
  at += 5;
  const name = labels.join(".").toLowerCase();
  const address = type === 1 ? KNOWN.get(name) : undefined;
  const reply = new Uint8Array(at + (address ? 16 : 0));
  reply.set(query.subarray(0, at));
  const out = new DataView(reply.buffer);
  out.setUint16(2, 0x8180 | (KNOWN.has(name) || name === ZONE ? 0 : 3));
  out.setUint16(6, address ? 1 : 0);
  out.setUint32(8, 0);
  if (address) reply.set([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...address], at);
  return reply;
}

async function startNameServer(): Promise<{ close(): void } | undefined> {
  try {
    return await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 53,
      socket: {
        data(socket, data, port, address) {
          socket.send(answer(new Uint8Array(data)), port, address);
        },
      },
    });
  } catch {
    return undefined; // port 53 taken, or not root
  }
}

const usable =
  process.platform === "linux" &&
  process.getuid?.() === 0 &&
  Bun.which("unshare") !== null &&
  Bun.which("hostname") !== null;
const server = usable ? await startNameServer() : undefined;

interface Case {
  why: string;
  hosts: string;
  resolv?: string;
  nsswitch?: string;
}

const CASES: Case[] = [
  { why: "the FQDN first on the hosts line", hosts: "10.1.1.1 web01.hosts.example web01\n" },
  { why: "the short name first on the hosts line", hosts: "10.1.1.1 web01 web01.hosts.example\n" },
  { why: "the host name as the third name", hosts: "10.1.1.1 web01.hosts.example www web01\n" },
  {
    why: "a name only DNS knows, through the search domains",
    hosts: "127.0.0.1 localhost\n",
    resolv: `nameserver 127.0.0.1\nsearch nowhere.test ${ZONE}\noptions timeout:1 attempts:1\n`,
  },
  {
    why: "a name DNS does not know",
    hosts: "127.0.0.1 localhost\n",
    resolv: "nameserver 127.0.0.1\nsearch nowhere.test\noptions timeout:1 attempts:1\n",
  },
  {
    why: "DNS before the hosts file",
    hosts: "10.1.1.1 web01.hosts.example web01\n",
    resolv: `nameserver 127.0.0.1\nsearch ${ZONE}\noptions timeout:1 attempts:1\n`,
    nsswitch: "hosts: dns files\n",
  },
];

describe.skipIf(!server)("the FQDN, side by side with hostname -f", () => {
  const dir = mkdtempSync(join(tmpdir(), "relevo-fqdn-"));
  afterAll(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const cli = join(import.meta.dir, "..", "..", "..", "src", "agent", "cli.ts");

  CASES.forEach((c, index) => {
    test(`agrees with hostname -f: ${c.why}`, async () => {
      const files = {
        hosts: c.hosts,
        "resolv.conf": c.resolv ?? "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        "nsswitch.conf": c.nsswitch ?? "hosts: files dns\n",
      };
      const mounts = Object.entries(files).map(([name, text]) => {
        const path = join(dir, `${index}-${name}`);
        writeFileSync(path, text);
        return `mount --bind ${path} /etc/${name}`;
      });
      const script = [
        "hostname web01",
        ...mounts,
        "hostname -f || echo FAILED",
        `exec ${process.execPath} ${cli} collect`,
      ].join(" && ");
      const child = Bun.spawn(["unshare", "-m", "-u", "--propagation", "private", "sh", "-c", script], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
      });
      const [stdout, , code] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      expect(code).toBe(0);
      const newline = stdout.indexOf("\n");
      const truth = stdout.slice(0, newline).trim();
      const report = JSON.parse(stdout.slice(newline + 1)) as { host: { hostname: string; fqdn: string } };
      expect(report.host.hostname).toBe("web01");
      // hostname -f fails outright for a name nobody knows; the agent then keeps the host name.
      expect(report.host.fqdn).toBe(truth === "FAILED" ? "web01" : truth);
    });
  });
});
