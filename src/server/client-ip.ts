// The address a report is filed under: the TCP peer, or, when the peer is a trusted proxy, the nearest
// untrusted hop of X-Forwarded-For (read from the right, since the left end is whatever the client wrote).
import { ApiError } from "./http-error.ts";
import { canonicalIp } from "./ip.ts";

export function clientIp(
  peer: string | undefined,
  forwardedFor: string | null,
  trusted: readonly string[],
): string {
  const ip = peer ? canonicalIp(peer) : null;
  if (!ip) throw new ApiError(400, "unknown_peer", "the server could not tell the client's address");
  if (!forwardedFor || !trusted.includes(ip)) return ip;
  const hops = forwardedFor.split(",").map((hop) => hop.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = canonicalIp(hops[i] ?? "");
    if (!hop)
      throw new ApiError(400, "bad_forwarded_for", "X-Forwarded-For holds something that is not an IP");
    if (!trusted.includes(hop)) return hop;
  }
  return ip;
}
