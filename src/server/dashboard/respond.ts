// One dashboard file as an HTTP answer: the best encoding the client accepts, its ETag (304 when the
// client has it), and caching: hashed scripts and styles forever, the page shell revalidated every time.
import type { Asset } from "./bundle.ts";

/** The shell and scripts talk to this origin only; nothing is loaded from elsewhere. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; " +
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

function accepts(header: string | null, coding: string): boolean {
  return (header ?? "")
    .split(",")
    .map((part) => part.trim().split(";"))
    .some(([name, q]) => name?.trim() === coding && !/^\s*q=0(\.0*)?\s*$/.test(q ?? ""));
}

export function assetResponse(
  request: Request,
  file: Asset,
  options: { immutable: boolean; vary?: string },
): Response {
  const coding = accepts(request.headers.get("accept-encoding"), "br")
    ? "br"
    : accepts(request.headers.get("accept-encoding"), "gzip")
      ? "gzip"
      : "identity";
  const etag = `"${file.etag}${coding === "identity" ? "" : `-${coding}`}"`;
  const headers: Record<string, string> = {
    "content-type": file.type,
    etag,
    "cache-control": options.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    vary: options.vary ? `${options.vary}, Accept-Encoding` : "Accept-Encoding",
    ...SECURITY_HEADERS,
  };
  const presented = request.headers.get("if-none-match") ?? "";
  if (presented.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag)) {
    return new Response(null, { status: 304, headers });
  }
  if (coding !== "identity") headers["content-encoding"] = coding;
  const body = coding === "br" ? file.br : coding === "gzip" ? file.gzip : file.identity;
  return new Response(request.method === "HEAD" ? null : body, { status: 200, headers });
}

/** A browser navigating asks for text/html first; curl (any type) and API clients get JSON. */
export function wantsPage(request: Request): boolean {
  const accept = request.headers.get("accept") ?? "";
  return /(^|,)\s*text\/html\b/i.test(accept) && !/^\s*application\/json/i.test(accept);
}
