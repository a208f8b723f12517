// minisign's formats (https://jedisct1.github.io/minisign/): Ed25519 public keys and signatures as base64
// lines under an "untrusted comment:" line, checked with WebCrypto. Both signature kinds are read: "ED"
// signs the BLAKE2b-512 of the file (minisign's default since 0.8), legacy "Ed" signs the file itself. The
// trusted comment (the release's version and date) is covered by the second, global signature.

export const PUBLIC_KEY_BYTES = 2 + 8 + 32;
const SIGNATURE_BYTES = 2 + 8 + 64;

export interface PublicKey {
  /** The key id as minisign prints it: 16 upper-case hex digits. */
  id: string;
  keyId: Uint8Array;
  raw: Uint8Array;
}

export interface Signature {
  prehashed: boolean;
  keyId: Uint8Array;
  signature: Uint8Array;
  trustedComment: string;
  globalSignature: Uint8Array;
}

export class MinisignError extends Error {
  override name = "MinisignError";
}

/** minisign prints the little-endian 64-bit key number, so the bytes read backwards. */
export function keyIdText(keyId: Uint8Array): string {
  return [...keyId]
    .reverse()
    .map((byte) => byte.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
}

function decodeBase64(text: string, what: string): Uint8Array {
  const line = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(line)) throw new MinisignError(`${what} is not base64`);
  return new Uint8Array(Buffer.from(line, "base64"));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A public key: the file minisign -G writes (comment line + key) or the bare base64 line. */
export function parsePublicKey(text: string): PublicKey {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const keyLine = lines.find((line) => !line.startsWith("untrusted comment:"));
  if (!keyLine || lines.length > 2) throw new MinisignError("a minisign public key is one base64 line");
  const bytes = decodeBase64(keyLine, "the public key");
  if (bytes.length !== PUBLIC_KEY_BYTES || bytes[0] !== 0x45 || bytes[1] !== 0x64) {
    throw new MinisignError("not a minisign Ed25519 public key");
  }
  const keyId = bytes.slice(2, 10);
  return { id: keyIdText(keyId), keyId, raw: bytes.slice(10) };
}

/** A .minisig file: untrusted comment, signature, trusted comment, global signature. */
export function parseSignature(text: string): Signature {
  const lines = text.split(/\r?\n/);
  if (lines.length < 4 || !lines[0]?.startsWith("untrusted comment:")) {
    throw new MinisignError("a minisign signature starts with an untrusted comment line");
  }
  const bytes = decodeBase64(lines[1] ?? "", "the signature");
  const algorithm = String.fromCharCode(bytes[0] ?? 0, bytes[1] ?? 0);
  if (bytes.length !== SIGNATURE_BYTES || (algorithm !== "ED" && algorithm !== "Ed")) {
    throw new MinisignError("not a minisign Ed25519 signature");
  }
  const trusted = lines[2] ?? "";
  if (!trusted.startsWith("trusted comment: "))
    throw new MinisignError("the trusted comment line is missing");
  const globalSignature = decodeBase64(lines[3] ?? "", "the global signature");
  if (globalSignature.length !== 64) throw new MinisignError("the global signature is not 64 bytes");
  return {
    prehashed: algorithm === "ED",
    keyId: bytes.slice(2, 10),
    signature: bytes.slice(10),
    trustedComment: trusted.slice("trusted comment: ".length),
    globalSignature,
  };
}

export function blake2b512(data: Uint8Array): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("blake2b512").update(data).digest().buffer);
}

/** A copy in a plain ArrayBuffer, the type WebCrypto takes. */
export function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

async function ed25519Verify(key: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  const imported = await crypto.subtle.importKey("raw", arrayBuffer(key), { name: "Ed25519" }, false, [
    "verify",
  ]);
  return crypto.subtle.verify({ name: "Ed25519" }, imported, arrayBuffer(signature), arrayBuffer(data));
}

/**
 * Checks `data` against `signatureText` with the first of `keys` whose id the signature names; returns the
 * trusted comment. Throws, saying why, when no key matches or either signature fails.
 */
export async function verify(
  data: Uint8Array,
  signatureText: string,
  keys: readonly PublicKey[],
): Promise<{ key: PublicKey; trustedComment: string }> {
  const signature = parseSignature(signatureText);
  const key = keys.find((one) => equalBytes(one.keyId, signature.keyId));
  if (!key) {
    throw new MinisignError(
      `signed with key ${keyIdText(signature.keyId)}, which is not trusted (trusted: ${keys.map((k) => k.id).join(", ") || "none"})`,
    );
  }
  const message = signature.prehashed ? blake2b512(data) : data;
  if (!(await ed25519Verify(key.raw, signature.signature, message))) {
    throw new MinisignError(`the signature does not match the file (key ${key.id})`);
  }
  const comment = new TextEncoder().encode(signature.trustedComment);
  const global = new Uint8Array(signature.signature.length + comment.length);
  global.set(signature.signature);
  global.set(comment, signature.signature.length);
  if (!(await ed25519Verify(key.raw, signature.globalSignature, global))) {
    throw new MinisignError("the trusted comment was changed after signing");
  }
  return { key, trustedComment: signature.trustedComment };
}

/** The key's one base64 line, as a public key file holds it. */
export function keyLine(key: PublicKey): string {
  const bytes = new Uint8Array(PUBLIC_KEY_BYTES);
  bytes.set([0x45, 0x64]);
  bytes.set(key.keyId, 2);
  bytes.set(key.raw, 10);
  return Buffer.from(bytes).toString("base64");
}
