// The dashboard's files, bundled by Bun from ui/index.html (a Bun HTML import). Inside a compiled executable
// Bun has bundled them at build time and embedded them (`page.files`); run from source they are bundled once,
// in memory, on the first request. Either way they are held compressed (gzip and brotli) with their ETags,
// so the app serves them itself: Bun's own HTML routes neither compress nor let GET / stay JSON for curl.
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { brotliCompressSync, constants } from "node:zlib";
import page from "../ui/index.html";

export interface Asset {
  type: string;
  /** Strong validator of the identity bytes; each encoding adds its own suffix. */
  etag: string;
  identity: Uint8Array;
  gzip: Uint8Array;
  br: Uint8Array;
}

export interface Bundle {
  /** The page shell, served at GET / to browsers. */
  index: Asset;
  /** Scripts and styles by the path the shell asks for them ("/chunk-1a2b3c.js"). */
  assets: Map<string, Asset>;
}

function asset(type: string, identity: Uint8Array, etag?: string): Asset {
  return {
    type,
    etag: etag ?? createHash("sha256").update(identity).digest("base64url").slice(0, 16),
    identity,
    gzip: Bun.gzipSync(identity as Uint8Array<ArrayBuffer>, { level: 9 }),
    br: brotliCompressSync(identity, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
  };
}

async function embedded(files: NonNullable<typeof page.files>): Promise<Bundle> {
  let index: Asset | null = null;
  const assets = new Map<string, Asset>();
  for (const file of files) {
    const one = asset(file.headers["content-type"], await Bun.file(file.path).bytes(), file.headers.etag);
    if (file.loader === "html") index = one;
    else assets.set(`/${basename(file.path)}`, one);
  }
  if (!index) throw new Error("the embedded dashboard has no page");
  return { index, assets };
}

async function fromSource(): Promise<Bundle> {
  const built = await Bun.build({
    entrypoints: [page.index],
    target: "browser",
    minify: true,
    publicPath: "/",
  });
  if (!built.success) throw new AggregateError(built.logs, "the dashboard did not bundle");
  let index: Asset | null = null;
  const assets = new Map<string, Asset>();
  for (const output of built.outputs) {
    const one = asset(output.type, new Uint8Array(await output.arrayBuffer()));
    if (output.path.endsWith(".html")) index = one;
    else assets.set(`/${basename(output.path)}`, one);
  }
  if (!index) throw new Error("the dashboard bundle has no page");
  return { index, assets };
}

let loading: Promise<Bundle> | null = null;

export function dashboardBundle(): Promise<Bundle> {
  loading ??= page.files?.length ? embedded(page.files) : fromSource();
  // A failed bundle is tried again on the next request rather than cached.
  loading.catch(() => {
    loading = null;
  });
  return loading;
}
