// `bun run bench ui`: time from navigation to a painted dashboard page in headless Chromium, against the
// compiled server: the fleet page over 10,000 hosts, and a host page whose day holds 288 reports of ~1,600
// processes each (~70 MB of JSON, which the charts never download: the server computes the series).
// Each run opens a new browser context (empty HTTP cache). Options: --runs N, --hosts N, --processes N.
import { statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Page } from "playwright-core";
import { executables, isolate, startServer, tempDir } from "../../test/e2e/_run.ts";
import { browserMissing, launchBrowser } from "../../test/helpers/browser.ts";
import { writeBusyDay, writeSyntheticFleet } from "../../test/helpers/fleet-data.ts";
import { fmt, median } from "./_stats.ts";

const BUSY = "10.9.0.1";

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
      hosts: { type: "string", default: "10000" },
      processes: { type: "string", default: "1600" },
    },
  });
  if (browserMissing) throw new Error(`bench ui needs Chromium: ${browserMissing}`);
  const runs = Number(values.runs);
  const hosts = Number(values.hosts);
  const built = await executables(["linux-x64"], ["server"]);
  const exe = isolate([built["server-linux-x64"]?.path ?? ""])["relevo-server-linux-x64"] ?? "";
  const dir = tempDir("relevo-bench-ui-");
  const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  writeSyntheticFleet(dir, hosts, new Date());
  writeBusyDay(dir, BUSY, day, 288, Number(values.processes));
  const dayBytes = statSync(join(dir, `${BUSY}_${day}.json`)).size;
  const server = await startServer([exe, "serve", "--port", "0", "--data", dir], tempDir("relevo-bench-cwd-"));
  const browser = await launchBrowser();
  try {
    const fleet: number[] = [];
    const host: number[] = [];
    const series: number[] = [];
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true });
      const page = await context.newPage();
      await page.goto(`${server.url}/`);
      fleet.push(await paintedAfter(page, "table.fleet tbody tr"));
      await context.close();

      const hostContext = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true });
      const hostPage = await hostContext.newPage();
      await hostPage.goto(`${server.url}/#/host/${BUSY}`);
      host.push(await paintedAfter(hostPage, "figure.chart:nth-child(4) [data-points='288'] canvas"));
      await hostContext.close();

      const t0 = performance.now();
      const res = await fetch(`${server.url}/api/hosts/${BUSY}/series?date=${day}`);
      await res.arrayBuffer();
      series.push(performance.now() - t0);
    }
    console.log(
      `dashboard in headless Chromium, compiled server, ${runs} runs (new browser context each):\n` +
        `  fleet page painted, ${hosts.toLocaleString("en-US")} hosts (50-row page): median ${fmt(median(fleet), 0)} ms  [${fleet.map((n) => fmt(n, 0)).join(", ")}]\n` +
        `  host page painted, 4 charts over 288 reports (${fmt(dayBytes / 2 ** 20)} MiB day file): median ${fmt(median(host), 0)} ms  [${host.map((n) => fmt(n, 0)).join(", ")}]\n` +
        `  of which GET /api/hosts/${BUSY}/series (all fields, from the client): median ${fmt(median(series), 0)} ms`,
    );
  } finally {
    await browser.close();
    await server.stop();
  }
}
