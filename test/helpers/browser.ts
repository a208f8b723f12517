// Debian's Chromium driven by playwright-core, headless, for the dashboard tests and `bun run bench ui`.
// Every page it opens records console errors, failed requests and any request that leaves 127.0.0.1.
import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or "" when they can. */
export const browserMissing = existsSync(CHROMIUM)
  ? ""
  : `${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it as root)`;

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught page errors, in order. */
  errors: string[];
  /** Every URL requested outside http://127.0.0.1:<port>/ (data: and blob: URLs excepted). */
  foreign: string[];
  close(): Promise<void>;
}

/**
 * `bypassCSP` lets the tests evaluate their own strings in the page (the dashboard's policy forbids eval);
 * open a page with `{ csp: true }` to run the dashboard under its real policy.
 */
export async function watchedPage(
  browser: Browser,
  origin: string,
  viewport = { width: 1366, height: 900 },
  colorScheme: "light" | "dark" = "light",
  options: { csp?: boolean } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport, colorScheme, bypassCSP: !options.csp });
  const page = await context.newPage();
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !/^(data|blob):/.test(url)) foreign.push(url);
  });
  return { page, context, errors, foreign, close: () => context.close() };
}

/** Pixels of the first canvas under `selector` close to an rgb colour: the chart drew its line, not only axes. */
export async function canvasPixelsOf(
  page: Page,
  selector: string,
  rgb: [number, number, number],
): Promise<number> {
  // A string, so it runs in the page (this project's TypeScript has no DOM types).
  return page.evaluate(`(() => {
    const c = document.querySelector(${JSON.stringify(selector)});
    const data = c?.getContext("2d")?.getImageData(0, 0, c.width, c.height).data;
    if (!data) return 0;
    const [r, g, b] = ${JSON.stringify(rgb)};
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40 && data[i + 3] > 200) n++;
    }
    return n;
  })()`);
}

/** canvasPixelsOf, asked again until it reaches `min` or `timeoutMs` passes (uPlot draws on a later frame). */
export async function pixelsReaching(
  page: Page,
  selector: string,
  rgb: [number, number, number],
  min: number,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pixels = await canvasPixelsOf(page, selector, rgb);
    if (pixels >= min || Date.now() > deadline) return pixels;
    await Bun.sleep(100);
  }
}
