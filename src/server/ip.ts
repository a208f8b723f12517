// Client addresses become file names, so they are parsed into one canonical form first: IPv4 dotted quad,
// IPv6 compressed per RFC 5952 (lower case, longest zero run as "::"), IPv4-mapped IPv6 as plain IPv4, zone
// ids dropped. In a file name IPv6 colons become "-" (valid on Windows); the mapping reverses exactly.
import { isIPv4, isIPv6 } from "node:net";

/** Canonical text of an IP address, or null if `input` is not one. */
export function canonicalIp(input: string): string | null {
  if (input.length > 64) return null;
  let text = input.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  if (isIPv4(text)) return text.split(".").map(Number).join(".");
  if (!isIPv6(text)) return null;
  const groups = expandIpv6(text);
  if (!groups) return null;
  // ::ffff:a.b.c.d is an IPv4 client seen through a dual-stack socket.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
  }
  return compressIpv6(groups);
}

function expandIpv6(text: string): number[] | null {
  let body = text;
  const tail: number[] = [];
  const lastColon = body.lastIndexOf(":");
  const last = body.slice(lastColon + 1);
  if (isIPv4(last)) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split(".").map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    body = `${body.slice(0, lastColon + 1)}0`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string | undefined) =>
    part ? part.split(":").map((g) => Number.parseInt(g, 16)) : [];
  const head = parse(halves[0]);
  const rest = parse(halves[1]);
  // With an embedded IPv4 the placeholder "0" group stands for two groups.
  if (tail.length) (halves.length === 2 ? rest : head).pop();
  const explicit = head.length + rest.length + tail.length;
  const fill = halves.length === 2 ? 8 - explicit : 0;
  if (fill < 0 || (halves.length === 1 && explicit !== 8)) return null;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : null;
}

function compressIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLength < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** The file-name form of a canonical IP: IPv6 colons become "-". */
export function ipToFileName(ip: string): string {
  return ip.replaceAll(":", "-");
}

/** Reverses ipToFileName; null if the text is not a canonical address in file-name form. */
export function ipFromFileName(name: string): string | null {
  const ip = name.includes(".") ? name : name.replaceAll("-", ":");
  return canonicalIp(ip) === ip ? ip : null;
}

/** Accepts an address as a client may write it in a query: plain, bracketed, or in file-name form. */
export function parseIpParam(input: string): string | null {
  // A query names a stored address: no zone id (it would be dropped, and `%25` decodes to one) and no
  // surrounding whitespace, which canonicalIp forgives in a peer address but a caller never means.
  if (input.includes("%") || input.trim() !== input) return null;
  if (/^[0-9a-fA-F-]+$/.test(input) && input.includes("-")) return canonicalIp(input.replaceAll("-", ":"));
  return canonicalIp(input);
}
