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

export async function watchedPage(
  browser: Browser,
  origin: string,
  viewport = { width: 1366, height: 900 },
  colorScheme: "light" | "dark" = "light",
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport, colorScheme });
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

/** Pixels of a canvas close to an rgb colour: proof that a chart drew its line, not only its axes. */
export async function canvasPixelsOf(
  page: Page,
  selector: string,
  rgb: [number, number, number],
): Promise<number> {
  return page.$eval(
    selector,
    (canvas, [r, g, b]) => {
      const c = canvas as HTMLCanvasElement;
      const data = c.getContext("2d")?.getImageData(0, 0, c.width, c.height).data;
      if (!data) return 0;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (
          Math.abs((data[i] as number) - r) < 40 &&
          Math.abs((data[i + 1] as number) - g) < 40 &&
          Math.abs((data[i + 2] as number) - b) < 40 &&
          (data[i + 3] as number) > 200
        )
          n++;
      }
      return n;
    },
    rgb,
  );
}
