// `bun run bench commands [--agents 10000] [--hold 60] [--commands 20]`: what open long-polls cost the
// server. The real server (sources) on 127.0.0.1 with N enrolled agents (inserted straight into relevo.db),
// measured side by side in one run: idle with no polls, then holding N open polls (GET
// /api/agents/{id}/commands?wait=55, one socket each, from a child process): RSS and CPU-seconds over the
// hold, and how long a queued collect takes to reach its agent's open poll. Both processes raise their
// file limit to the hard limit (ulimit -n); everything stops after the hold.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openStateDb } from "../../src/server/db/state-db.ts";
import { BUN, REPO, startServer, tempDir } from "../../test/helpers/server.ts";
import { fmt, median, percentile, rssMb } from "./_stats.ts";

const TICK = 100; // clock ticks per second (USER_HZ)

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICK;
}

function hardFileLimit(): number {
  const out = Bun.spawnSync(["sh", "-c", "ulimit -Hn"], { stdout: "pipe" }).stdout.toString().trim();
  return out === "unlimited" ? 1_048_576 : Number(out);
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { agents: { type: "string" }, hold: { type: "string" }, commands: { type: "string" } },
  });
  const limit = hardFileLimit();
  let agents = Number(values.agents ?? 10_000);
  if (agents + 500 > limit) {
    console.error(`the hard file limit is ${limit}: measuring ${limit - 500} polls instead of ${agents}`);
    agents = limit - 500;
  }
  // 60 s by default: longer than the 55 s wait, so every poll is answered and reopened once in the hold.
  const holdS = Number(values.hold ?? 60);
  const commands = Number(values.commands ?? 20);
  const data = tempDir("relevo-bench-commands-");
  const state = openStateDb(data, { now: new Date() });
  const now = Date.now();
  const insert = state.db.prepare(
    "INSERT INTO agents (machine_id, hostname, os_type, os_version, version, first_seen, last_seen, last_ip, token_hash, state) VALUES (?, ?, 'Linux', '6.1', '1.0.0', ?, ?, '127.0.0.1', ?, 'active')",
  );
  state.db.transaction(() => {
    for (let i = 1; i <= agents; i++) insert.run(`m${i}`, `host-${i}`, now, now, `hash-${i}`);
  })();
  state.close();
  // Bun raises its own soft file limit to the hard one at start; the clients' sh does it explicitly.
  // --rate-limit 0: every poll comes from 127.0.0.1 here, where a fleet has one address per host.
  const server = await startServer(["--rate-limit", "0"], data);
  try {
    await Bun.sleep(1_000);
    const idleCpu0 = cpuSeconds(server.proc.pid);
    await Bun.sleep(holdS * 1000);
    const idle = { rss: rssMb(server.proc.pid).rss, cpu: cpuSeconds(server.proc.pid) - idleCpu0 };

    const clients = Bun.spawn(
      [
        "sh",
        "-c",
        `ulimit -n ${limit} && exec "$0" "$@"`,
        BUN,
        join(REPO, "scripts", "bench", "_poll-clients.ts"),
        String(server.port),
        String(agents),
        String(holdS + 30 + commands),
      ],
      { stdout: "pipe", stderr: "inherit" },
    );
    const answered = new Map<number, number>();
    let open = 0;
    const lines = (async () => {
      let buffer = "";
      for await (const chunk of clients.stdout) {
        buffer += new TextDecoder().decode(chunk);
        let cut = buffer.indexOf("\n");
        while (cut >= 0) {
          const event = JSON.parse(buffer.slice(0, cut)) as { open?: number; answered?: number; at?: number };
          if (event.open) open = event.open;
          if (event.answered) answered.set(event.answered, event.at ?? 0);
          buffer = buffer.slice(cut + 1);
          cut = buffer.indexOf("\n");
        }
      }
    })();
    const openStarted = performance.now();
    while (!open) {
      if (clients.exitCode !== null) throw new Error("the poll clients exited early");
      await Bun.sleep(100);
    }
    const openSeconds = (performance.now() - openStarted) / 1000;
    await Bun.sleep(2_000);
    const holdCpu0 = cpuSeconds(server.proc.pid);
    await Bun.sleep(holdS * 1000);
    const held = { rss: rssMb(server.proc.pid).rss, cpu: cpuSeconds(server.proc.pid) - holdCpu0 };

    const latencies: number[] = [];
    for (let i = 0; i < commands; i++) {
      const id = 1 + Math.floor(((i + 0.5) / commands) * agents);
      const sent = Date.now();
      const answer = await fetch(`${server.url}/api/agents/${id}/collect`, { method: "POST" });
      if (answer.status !== 202) throw new Error(`POST collect: ${answer.status}`);
      const deadline = sent + 10_000;
      while (!answered.has(id) && Date.now() < deadline) await Bun.sleep(2);
      latencies.push(answered.has(id) ? (answered.get(id) as number) - sent : Number.NaN);
    }
    clients.kill();
    await clients.exited;
    await lines;
    const sorted = latencies.filter(Number.isFinite).sort((a, b) => a - b);
    console.log(
      `relevo-server with ${agents} enrolled agents, ${holdS} s per phase (this machine, loopback)`,
    );
    console.log(`  polls opened in ${fmt(openSeconds)} s`);
    console.log(
      `  idle (no polls):       RSS ${fmt(idle.rss)} MB, CPU ${fmt(idle.cpu, 2)} s over ${holdS} s (${fmt((100 * idle.cpu) / holdS, 2)} %)`,
    );
    console.log(
      `  ${agents} open polls: RSS ${fmt(held.rss)} MB, CPU ${fmt(held.cpu, 2)} s over ${holdS} s (${fmt((100 * held.cpu) / holdS, 2)} %)`,
    );
    console.log(
      `  per open poll: ${fmt(((held.rss - idle.rss) * 1024) / agents, 2)} KB RSS; ratio held/idle RSS ${fmt(held.rss / idle.rss, 2)}`,
    );
    console.log(
      `  collect queued -> answered on its open poll: median ${fmt(median(sorted))} ms, p95 ${fmt(percentile(sorted, 95))} ms, max ${fmt(sorted.at(-1) ?? Number.NaN)} ms (${sorted.length}/${commands} delivered)`,
    );
  } finally {
    await server.stop();
  }
}
