// `bun run bench ui`: time from navigation to a painted dashboard page in headless Chromium, against the
// compiled server: the fleet page over 10,000 hosts, and a host page whose day holds 288 reports of ~1,600
// processes each (~70 MB of JSON, which the charts never download: the server computes the series).
// Each run opens a new browser context (empty HTTP cache). The first look at a day scans its file (cold);
// later looks reuse that scan (warm): both are measured, the cold ones on days of different hosts.
// Options: --runs N, --cold N, --hosts N, --processes N.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Page } from "playwright-core";
import { executables, isolate, startServer, tempDir } from "../../test/e2e/_run.ts";
import { browserMissing, launchBrowser } from "../../test/helpers/browser.ts";
import { writeBusyDay, writeSyntheticFleet } from "../../test/helpers/fleet-data.ts";
import { fmt, median } from "./_stats.ts";

const busy = (i: number) => `10.9.0.${i + 1}`;

/** Milliseconds from navigation start until `selector` exists and two frames have been painted after it. */
function paintedAfter(page: Page, selector: string): Promise<number> {
  return page.evaluate(`new Promise((done) => {
    const check = () => document.querySelector(${JSON.stringify(selector)})
      ? requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())))
      : requestAnimationFrame(check);
    check();
  })`);
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string", default: "7" },
      cold: { type: "string", default: "3" },
      hosts: { type: "string", default: "10000" },
      processes: { type: "string", default: "1600" },
    },
  });
  if (browserMissing) throw new Error(`bench ui needs Chromium: ${browserMissing}`);
  const runs = Number(values.runs);
  const colds = Number(values.cold);
  const hosts = Number(values.hosts);
  const built = await executables(["linux-x64"], ["server"]);
  const exe = isolate([built["server-linux-x64"]?.path ?? ""])["relevo-server-linux-x64"] ?? "";
  const dir = tempDir("relevo-bench-ui-");
  const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  writeSyntheticFleet(dir, hosts, new Date());
  for (let i = 0; i < colds + 1; i++) writeBusyDay(dir, busy(i), day, 288, Number(values.processes));
  const dayBytes = statSync(join(dir, `${busy(0)}_${day}.json`)).size;
  const server = await startServer(
    [exe, "serve", "--port", "0", "--data", dir],
    tempDir("relevo-bench-cwd-"),
  );
  const browser = await launchBrowser();
  try {
    const newPage = async () => {
      const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true });
      return { context, page: await context.newPage() };
    };
    const hostPainted = async (ip: string) => {
      const { context, page } = await newPage();
      await page.goto(`${server.url}/#/host/${ip}`);
      const ms = await paintedAfter(page, "figure.chart:nth-child(4) [data-points='288'] canvas");
      await context.close();
      return ms;
    };
    const seriesMs = async (ip: string) => {
      const t0 = performance.now();
      await (await fetch(`${server.url}/api/hosts/${ip}/series?date=${day}`)).arrayBuffer();
      return performance.now() - t0;
    };
    const fleet: number[] = [];
    const cold: number[] = [];
    const warm: number[] = [];
    const coldSeries: number[] = [];
    const warmSeries: number[] = [];
    // Cold: days nobody looked at yet (host 0's is left for the warm runs; its first look is discarded).
    for (let i = 1; i <= colds; i++) cold.push(await hostPainted(busy(i)));
    coldSeries.push(await seriesMs(busy(0)));
    for (let i = 0; i < runs; i++) {
      const { context, page } = await newPage();
      await page.goto(`${server.url}/`);
      fleet.push(await paintedAfter(page, "table.fleet tbody tr"));
      await context.close();
      warm.push(await hostPainted(busy(0)));
      warmSeries.push(await seriesMs(busy(0)));
    }
    const list = (values: number[]) => `[${values.map((n) => fmt(n, 0)).join(", ")}]`;
    console.log(
      `dashboard in headless Chromium, compiled server (load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}):\n` +
        `  fleet page painted, ${hosts.toLocaleString("en-US")} hosts (50-row page): median ${fmt(median(fleet), 0)} ms  ${list(fleet)}\n` +
        `  host page painted, 4 charts over 288 reports (${fmt(dayBytes / 2 ** 20)} MiB day file):\n` +
        `    day looked at before (warm): median ${fmt(median(warm), 0)} ms  ${list(warm)}\n` +
        `    first look at the day (cold scan): median ${fmt(median(cold), 0)} ms  ${list(cold)}\n` +
        `  GET /api/hosts/{ip}/series alone, all fields: cold ${fmt(median(coldSeries), 0)} ms, warm median ${fmt(median(warmSeries), 0)} ms`,
    );
  } finally {
    await browser.close();
    await server.stop();
  }
}
