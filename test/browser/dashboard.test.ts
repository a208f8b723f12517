// The dashboard in a real browser (Debian's Chromium through playwright-core) against the compiled server,
// built once for this file, holding reports of the real compiled agent beside 10,000 synthetic hosts.
// Every page is checked for console errors and for requests that leave 127.0.0.1, and photographed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import {
  BUILD_TIMEOUT_MS,
  type CompiledServer,
  executables,
  isolate,
  run,
  startServer,
  tempDir,
} from "../e2e/_run.ts";
import {
  browserMissing,
  launchBrowser,
  pixelsReaching,
  type WatchedPage,
  watchedPage,
} from "../helpers/browser.ts";
import { SILENT_EVERY, writeBusyDay, writeSyntheticFleet } from "../helpers/fleet-data.ts";
import { startServer as startServerFromSource } from "../helpers/server.ts";

const HOSTS = 10_000;
const BUSY = "10.9.0.1";
const day = (offset: number) => new Date(Date.now() - offset * 86_400_000).toISOString().slice(0, 10);
const skipWhy =
  process.platform !== "linux" || process.arch !== "x64"
    ? `not on Linux x64 (${process.platform}-${process.arch})`
    : browserMissing;
if (skipWhy) console.warn(`browser: skipping the dashboard tests: ${skipWhy}`);

/** The endpoints this build's server lists at GET / (the same serve code the compiled one runs). */
async function listedEndpoints(): Promise<string[]> {
  const source = await startServerFromSource([], tempDir("relevo-browser-probe-"));
  try {
    const res = await fetch(`${source.url}/`, { headers: { accept: "application/json" } });
    return ((await res.json()) as { endpoints: string[] }).endpoints;
  } finally {
    await source.stop();
  }
}
const listed = skipWhy ? [] : await listedEndpoints();
const noSoftware = listed.some((one) => one.startsWith("GET /api/software"))
  ? ""
  : "this server lists no GET /api/software yet (issue 14's backend)";

/** Where the tests write a screenshot of each page (git-ignored; docs/ holds the two the README shows). */
export const SHOTS = join(import.meta.dir, "..", "..", "dist", "screenshots");

describe.skipIf(Boolean(skipWhy))("the dashboard in Chromium, on the compiled server", () => {
  let server: CompiledServer | undefined;
  let open: CompiledServer | undefined;
  let browser: Browser | undefined;
  let serverExe = "";
  let dataDir = "";
  let readToken = "";
  let endpoints: string[] = [];
  const pages: WatchedPage[] = [];

  const token = async (role: string, name: string) => {
    const out = await run([serverExe, "token", "create", "--data", dataDir, "--role", role, "--name", name]);
    if (out.code !== 0) throw new Error(`token create: ${out.stderr}`);
    return out.stdout.trim().split("\n").at(-1) ?? "";
  };

  const post = async (path: string, auth: string, body: unknown) => {
    const res = await fetch(`${server?.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${auth}` },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  };

  /** A new browser context, signed in with the read token (sessionStorage is per tab). */
  const signedIn = async (
    hash = "",
    viewport?: { width: number; height: number },
    scheme?: "light" | "dark",
  ) => {
    const watched = await watchedPage(browser as Browser, server?.url as string, viewport, scheme);
    pages.push(watched);
    await watched.page.addInitScript(
      `sessionStorage.setItem("relevo.read-token", ${JSON.stringify(readToken)})`,
    );
    await watched.page.goto(`${server?.url}/${hash}`);
    return watched;
  };

  const clean = (watched: WatchedPage) => {
    expect(watched.errors).toEqual([]);
    expect(watched.foreign).toEqual([]);
  };

  /** A PNG of the page; `small` adds a JPEG for the README (docs/ keeps a copy of the fleet's and a host's). */
  const shot = async (page: Page, name: string, fullPage = false, small = false) => {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
    if (small) await page.screenshot({ path: join(SHOTS, `${name}.jpg`), type: "jpeg", quality: 70 });
  };

  const rowCount = (page: Page) => page.locator("table.fleet tbody tr").count();
  const cells = (page: Page, column: number) =>
    page.locator(`table.fleet tbody tr > :nth-child(${column})`).allInnerTexts();

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const built = await executables(["linux-x64"], ["server", "agent"]);
    const bin = isolate([built["server-linux-x64"]?.path ?? "", built["agent-linux-x64"]?.path ?? ""]);
    serverExe = bin["relevo-server-linux-x64"] ?? "";
    const agentExe = bin["relevo-agent-linux-x64"] ?? "";
    dataDir = tempDir("relevo-browser-data-");
    writeSyntheticFleet(dataDir, HOSTS, new Date());
    writeBusyDay(dataDir, BUSY, day(1), 288, 40);
    writeBusyDay(dataDir, BUSY, day(2), 100, 40);
    readToken = await token("read", "dashboard");
    const ingest = await token("ingest", "agents");
    const enroll = await token("enroll", "enroll");
    // Alerts: one that fires on the real agent's reports as they arrive, one on the error logs posted below.
    const alertsFile = join(tempDir("relevo-browser-alerts-"), "alerts.json");
    writeFileSync(
      alertsFile,
      JSON.stringify({
        evaluate_every: "1s",
        rules: [
          {
            name: "agent-has-processes",
            type: "threshold",
            field: "processes.total",
            op: ">",
            value: 0,
            severity: "warning",
          },
          { name: "errors-logged", type: "log_rate", severity_at_least: "ERROR", count: 5, window: "1h" },
        ],
      }),
    );
    server = await startServer(
      [serverExe, "serve", "--port", "0", "--data", dataDir, "--alerts", alertsFile],
      tempDir("relevo-browser-cwd-"),
    );
    // The real agent, twice: a host with two points today.
    for (let i = 0; i < 2; i++) {
      const out = await run(
        [
          agentExe,
          "run",
          "--once",
          "--url",
          server.url,
          "--token",
          ingest,
          "--spool",
          tempDir("relevo-spool-"),
        ],
        { timeoutMs: 60_000 },
      );
      if (out.code !== 0) throw new Error(`agent run --once: ${out.stderr}`);
      await Bun.sleep(1000); // two points a second apart at least, whatever the machine's speed
    }
    await post("/api/agents/register", enroll, {
      hostname: "enrolled-1",
      os_type: "linux",
      os_version: "12",
      agent_version: "0.1.0",
    });
    const now = Date.now();
    await post(
      "/logs",
      ingest,
      Array.from({ length: 30 }, (_, i) => ({
        timestamp: new Date(now - i * 60_000).toISOString(),
        service: i % 3 === 0 ? "billing" : "web",
        severity: ["INFO", "WARNING", "ERROR"][i % 3],
        message: i === 7 ? "disk quota exceeded on /srv" : `request ${i} served`,
      })),
    );
    endpoints = ((await (await fetch(`${server.url}/`)).json()) as { endpoints: string[] }).endpoints;
    browser = await launchBrowser();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    for (const one of pages) await one.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
    await open?.stop();
  });

  test("sign-in: a wrong token is refused plainly, the right one opens the fleet and stays for the tab", async () => {
    const watched = await watchedPage(browser as Browser, server?.url as string);
    pages.push(watched);
    const { page } = watched;
    await page.goto(`${server?.url}/`);
    await page.getByLabel("Read token").fill("rlv_not-a-token-at-all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert").innerText()).resolves.toContain("not valid (revoked or mistyped)");
    await shot(page, "signin");
    await page.getByLabel("Read token").fill(readToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForSelector("table.fleet tbody tr");
    expect(await page.evaluate('sessionStorage.getItem("relevo.read-token")')).toBe(readToken);
    await page.reload();
    await page.waitForSelector("table.fleet tbody tr");
    // 401s of the wrong token are the browser's "failed to load resource" lines, not the page's errors.
    expect(watched.errors.filter((line) => !line.includes("401"))).toEqual([]);
    expect(watched.foreign).toEqual([]);
  });

  test("a token revoked while the page is open signs the tab out and says why", async () => {
    const second = await token("read", "short-lived");
    const watched = await watchedPage(browser as Browser, server?.url as string);
    pages.push(watched);
    await watched.page.addInitScript(
      `sessionStorage.setItem("relevo.read-token", ${JSON.stringify(second)})`,
    );
    await watched.page.goto(`${server?.url}/`);
    await watched.page.waitForSelector("table.fleet tbody tr");
    const out = await run([serverExe, "token", "revoke", "short-lived", "--data", dataDir]);
    expect(out.code, out.stderr).toBe(0);
    await watched.page.getByLabel("Search", { exact: true }).fill("web");
    await expect(watched.page.getByRole("alert").innerText()).resolves.toContain("revoked");
    await watched.page.getByLabel("Read token").waitFor();
  });

  test("fleet: counts, search, sort, OS and state filters, server-side paging", async () => {
    const watched = await signedIn();
    const { page } = watched;
    await page.waitForSelector("table.fleet tbody tr");
    const counts = await page.getByRole("list", { name: "Fleet counts" }).innerText();
    // The synthetic fleet, the busy host and the real agent's 127.0.0.1.
    expect(counts).toContain(`${(HOSTS + 2).toLocaleString("en-US")} hosts`);
    expect(counts).toContain(`${(HOSTS / SILENT_EVERY + 1).toLocaleString("en-US")} silent`);
    expect(await rowCount(page)).toBe(50);
    await shot(page, "fleet", false, true);

    await page.getByLabel("Search", { exact: true }).fill("db-0001");
    await page.waitForFunction(`document.querySelectorAll("table.fleet tbody tr").length === 2`);
    expect(await page.locator("table.fleet tbody tr th a").allInnerTexts()).toEqual(["db-00013", "db-00019"]);
    expect(await page.locator("table.fleet tbody tr.silent th").innerText()).toContain("silent");

    await page.getByLabel("Search", { exact: true }).fill("");
    const sorted = page.waitForResponse((res) => res.url().includes("sort=cpu"));
    await page.getByRole("button", { name: /^CPU/ }).click();
    await sorted;
    await page.waitForFunction(
      `document.querySelector("th[aria-sort='descending']")?.textContent?.includes("CPU")`,
    );
    // Synthetic loads go up to 99 %: the first row once the sorted page is drawn.
    await page.waitForFunction(
      `Number.parseFloat(document.querySelector("table.fleet tbody tr td:nth-child(4)")?.textContent ?? "") >= 99`,
    );
    expect(await rowCount(page)).toBe(50);
    const loads = (await cells(page, 4)).map((text) => Number.parseFloat(text));
    expect(loads).toEqual([...loads].sort((a, b) => b - a));
    expect(loads[0]).toBeGreaterThanOrEqual(99);

    await page.getByLabel("OS", { exact: true }).selectOption("Ubuntu");
    await page.getByLabel("State", { exact: true }).selectOption("silent");
    await page.waitForFunction(
      `[...document.querySelectorAll("table.fleet tbody tr")].every((row) => row.classList.contains("silent"))`,
    );
    const oses = await cells(page, 3);
    expect(oses.length).toBeGreaterThan(0);
    expect(oses.every((text) => text.startsWith("Ubuntu"))).toBe(true);
    const pager = page.getByRole("navigation", { name: "Fleet pages" });
    // Silent hosts are i = 9 (mod 10), Ubuntu ones i = 1 (mod 4): i = 9 (mod 20).
    expect(await pager.innerText()).toContain(`of ${HOSTS / 20}`);
    await pager.getByRole("button", { name: "Next" }).click();
    await page.waitForFunction(`document.querySelector(".pager span")?.textContent?.startsWith("51–100")`);
    expect(await rowCount(page)).toBe(50);
    clean(watched);
  });

  test("host page of the real agent's host: the report laid out, processes sortable, charts drawn", async () => {
    const watched = await signedIn();
    const { page } = watched;
    await page.getByLabel("Search", { exact: true }).fill("127.0.0.1");
    await page.waitForFunction(`document.querySelectorAll("table.fleet tbody tr").length === 1`);
    await page.locator("table.fleet tbody tr th a").click();
    await page.waitForSelector(".charts canvas");
    for (const title of ["Operating system", "CPU", "Memory and swap", "Disks", "Network", "Sessions"]) {
      await page.getByRole("heading", { name: title, exact: true }).waitFor();
    }
    const processes = page.locator("table.processes tbody tr");
    expect(await processes.count()).toBeGreaterThan(3);
    await page
      .getByRole("button", { name: /^Memory/ })
      .last()
      .click();
    await page.waitForSelector("table.processes th[aria-sort='descending']:nth-child(5)");
    const cpu = page.locator("figure.chart", { hasText: "CPU load" }).locator("[data-points]");
    await page.waitForSelector(".chart [data-points='2']");
    expect(await cpu.getAttribute("data-points")).toBe("2");
    // Every chart with two points draws its line, whatever the values (this machine's CPU is often at
    // 100 %); a chart this host has no numbers for (no disk in a container) says so instead.
    const drawn: string[] = [];
    for (const n of [1, 2, 3, 4]) {
      const figure = page.locator(`figure.chart:nth-child(${n})`);
      const points = await figure.locator("[data-points]").getAttribute("data-points");
      const pixels = await pixelsReaching(page, `figure.chart:nth-child(${n}) canvas`, [29, 78, 216], 50);
      drawn.push(
        `${await figure.locator("figcaption").innerText()}: ${points} points, ${pixels >= 50 ? "line" : `${pixels} px`}`,
      );
    }
    expect(drawn[0]).toBe("CPU load: 2 points, line");
    for (const line of drawn) expect(line).toMatch(/: (2 points, line|0 points, \d+ px)$/);
    await shot(page, "host-agent", true);
    clean(watched);
  });

  test("day picker: the charts follow the chosen day, numbers computed by the server", async () => {
    const watched = await signedIn(`#/host/${BUSY}`, { width: 1366, height: 1100 });
    const { page } = watched;
    const cpu = page.locator("figure.chart", { hasText: "CPU load" }).locator("[data-points]");
    await page.waitForSelector(".chart [data-points='288']");
    expect(await cpu.getAttribute("data-points")).toBe("288");
    expect(await pixelsReaching(page, "figure.chart canvas", [29, 78, 216], 200)).toBeGreaterThanOrEqual(200);
    await page.getByRole("heading", { name: "Over a day" }).scrollIntoViewIfNeeded();
    await shot(page, "host", false, true);
    await page.getByLabel("Day", { exact: true }).selectOption(day(2));
    await page.waitForSelector(".chart [data-points='100']");
    expect(await cpu.getAttribute("data-points")).toBe("100");
    const options = await page.getByLabel("Day", { exact: true }).locator("option").allInnerTexts();
    expect(options).toEqual([`${day(1)} (288 reports)`, `${day(2)} (100 reports)`]);
    clean(watched);
  });

  test("logs: newest first, filtered by service, severity and text", async () => {
    const watched = await signedIn("#/logs");
    const { page } = watched;
    const rows = page.locator("table.logs tbody tr");
    await page.waitForFunction(`document.querySelectorAll("table.logs tbody tr").length === 30`);
    const times = await page
      .locator("table.logs tbody tr time")
      .evaluateAll((all) => all.map((t) => t.getAttribute("datetime") ?? ""));
    expect(times).toEqual([...times].sort().reverse());
    await shot(page, "logs");
    await page.getByLabel("Service", { exact: true }).fill("billing");
    await page.waitForFunction(`document.querySelectorAll("table.logs tbody tr").length === 10`);
    expect((await rows.locator("td:nth-child(2)").allInnerTexts()).every((s) => s === "billing")).toBe(true);
    await page.getByLabel("Service", { exact: true }).fill("");
    await page.getByLabel("Severity at least").selectOption("ERROR");
    // The billing page also had 10 rows: wait for the rows of the new filter, not for a count.
    await page.waitForFunction(
      `[...document.querySelectorAll("table.logs tbody tr td:nth-child(3)")].filter((td) => td.textContent === "ERROR").length === 10`,
    );
    expect((await rows.locator("td:nth-child(3)").allInnerTexts()).every((s) => s === "ERROR")).toBe(true);
    await page.getByLabel("Severity at least").selectOption("");
    await page.getByLabel("Text", { exact: true }).fill("quota");
    await page.waitForFunction(`document.querySelectorAll("table.logs tbody tr").length === 1`);
    expect(await rows.innerText()).toContain("disk quota exceeded on /srv");
    await page
      .getByLabel("From (UTC)", { exact: true })
      .fill(new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 16));
    await page.waitForFunction(`document.querySelectorAll("table.logs tbody tr").length === 0`);
    clean(watched);
  });

  test("logs: follow shows entries that arrive while the page is open", async () => {
    const watched = await signedIn("#/logs");
    const { page } = watched;
    await page.waitForFunction(`document.querySelectorAll("table.logs tbody tr").length > 0`);
    await page.getByLabel("Follow new entries").check();
    const ingest = await token("ingest", "late");
    const entry = {
      timestamp: new Date().toISOString(),
      service: "web",
      severity: "CRITICAL",
      message: "followed entry",
    };
    // The running server takes a token made by the CLI when it next reads tokens.json: try for up to 10 s.
    for (let attempt = 0; ; attempt++) {
      try {
        await post("/logs", ingest, entry);
        break;
      } catch (error) {
        if (attempt >= 40 || !String(error).includes(" 401 ")) throw error;
        await Bun.sleep(250);
      }
    }
    await page.getByText("followed entry").waitFor({ timeout: 10_000 });
    clean(watched);
  });

  test("agents page lists the enrolled agent", async () => {
    expect(endpoints).toContain("GET /api/agents");
    const watched = await signedIn("#/agents");
    const { page } = watched;
    await page
      .getByRole("cell", { name: "enrolled-1" })
      .or(page.getByRole("rowheader", { name: "enrolled-1" }))
      .waitFor();
    await shot(page, "agents");
    clean(watched);
  });

  if (noSoftware) console.warn(`browser: skipping the Software page: ${noSoftware}`);
  test.skipIf(Boolean(noSoftware))("software page: which hosts have a package", async () => {
    const watched = await signedIn("#/software");
    await watched.page.getByLabel("Package name").fill("openssl");
    await watched.page
      .getByRole("heading", { name: /Hosts with it|Software/ })
      .first()
      .waitFor();
    await shot(watched.page, "software");
    clean(watched);
  });

  test("alerts: what fires is listed with its subject, a host's linking to its page", async () => {
    expect(endpoints).toContain("GET /api/alerts");
    const watched = await signedIn("#/alerts");
    const { page } = watched;
    const firing = page.getByRole("table", { name: "Alerts firing now" });
    await firing.getByRole("rowheader", { name: "errors-logged" }).waitFor({ timeout: 15_000 });
    const hostRow = firing.getByRole("row").filter({ hasText: "agent-has-processes" });
    await hostRow.waitFor();
    expect(await hostRow.locator(".severity").innerText()).toBe("warning");
    await shot(page, "alerts");
    await hostRow.getByRole("link").click();
    await page.waitForURL(/#\/host\//);
    await page.getByRole("heading", { level: 1 }).waitFor();
    clean(watched);
  });

  test("pages without a backend are not offered", async () => {
    const watched = await signedIn();
    const navigation = watched.page.getByRole("navigation", { name: "Pages", exact: true });
    await navigation.getByRole("link", { name: "Agents" }).waitFor();
    const nav = await navigation.innerText();
    expect(nav).toContain("Logs");
    expect(nav).toContain("Agents");
    expect(nav.includes("Software")).toBe(endpoints.some((one) => one.startsWith("GET /api/software")));
    clean(watched);
  });

  test("a phone in dark mode: the fleet fits the width, the host page stacks", async () => {
    const phone = { width: 390, height: 844 };
    const watched = await signedIn("", phone, "dark");
    const { page } = watched;
    await page.waitForSelector("table.fleet tbody tr");
    // Only the table scrolls sideways, inside its box; the page itself never does.
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(phone.width);
    const background = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    expect(background).toBe("rgb(15, 18, 22)");
    await shot(page, "fleet-phone-dark");
    await page.goto(`${server?.url}/#/host/${BUSY}`);
    await page.waitForSelector(".chart [data-points='288']");
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(phone.width);
    await shot(page, "host-phone-dark");
    clean(watched);
  });

  test("keyboard: skip link, then sort a column and open a host without a mouse", async () => {
    const watched = await signedIn();
    const { page } = watched;
    await page.waitForSelector("table.fleet tbody tr");
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Skip to content");
    await page.getByRole("button", { name: /^Processes/ }).focus();
    const sorted = page.waitForResponse((res) => res.url().includes("sort=processes"));
    await page.keyboard.press("Enter");
    await sorted;
    // The busiest synthetic host has 499 processes: the first row once the sorted page is drawn.
    await page.waitForFunction(
      `Number(document.querySelector("table.fleet tbody tr td:nth-child(8)")?.textContent?.replace(/,/g, "")) >= 499`,
    );
    await page.locator("table.fleet tbody tr th a").first().focus();
    await page.keyboard.press("Enter");
    await page.waitForSelector(".charts");
    expect(await page.evaluate("location.hash")).toStartWith("#/host/");
    clean(watched);
  });

  test("on loopback with no tokens configured, no token is asked", async () => {
    const dir = tempDir("relevo-browser-open-");
    writeSyntheticFleet(dir, 20, new Date());
    open = await startServer(
      [serverExe, "serve", "--port", "0", "--data", dir],
      tempDir("relevo-browser-cwd-"),
    );
    // Under the dashboard's real Content-Security-Policy: a violation would be a console error.
    const watched = await watchedPage(browser as Browser, open.url, undefined, undefined, { csp: true });
    pages.push(watched);
    await watched.page.goto(`${open.url}/`);
    await watched.page.waitForSelector("table.fleet tbody tr");
    expect(await watched.page.getByLabel("Read token").count()).toBe(0);
    expect(await watched.page.getByText("open on loopback").count()).toBe(1);
    // The host page too: uPlot's canvases and styles within the policy.
    await watched.page.goto(`${open.url}/#/host/10.20.0.1`);
    await watched.page.waitForSelector(".chart [data-points='1'] canvas");
    clean(watched);
  });
});
