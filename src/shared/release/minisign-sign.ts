// Making minisign keys and signatures (the server's `release keygen`, scripts/sign-release.ts). The secret
// key file is minisign's unencrypted format (what `minisign -G -W` writes), so `minisign -S` signs with it
// too; keep it where only whoever signs releases can read it.
import { arrayBuffer, blake2b512, keyIdText, type PublicKey, parsePublicKey } from "./minisign.ts";

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

export interface SecretKey {
  keyId: Uint8Array;
  seed: Uint8Array;
  publicKey: Uint8Array;
}

export interface KeyPair {
  publicKeyText: string;
  secretKeyText: string;
  id: string;
}

function blake2b256(data: Uint8Array): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("blake2b256").update(data).digest().buffer);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const ED = new Uint8Array([0x45, 0x64]);

export async function generateKeyPair(): Promise<KeyPair> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ])) as unknown as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const seed = new Uint8Array(Buffer.from(jwk.d ?? "", "base64url"));
  const publicKey = new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"));
  const keyId = crypto.getRandomValues(new Uint8Array(8));
  const id = keyIdText(keyId);
  const sk = concat(seed, publicKey);
  const checksum = blake2b256(concat(ED, keyId, sk));
  // sig alg "Ed", kdf alg 0 0 (not encrypted), checksum alg "B2", then salt, opslimit, memlimit (unused).
  const secret = concat(
    ED,
    new Uint8Array([0, 0]),
    new Uint8Array([0x42, 0x32]),
    new Uint8Array(48),
    keyId,
    sk,
    checksum,
  );
  return {
    id,
    publicKeyText: `untrusted comment: minisign public key ${id}\n${b64(concat(ED, keyId, publicKey))}\n`,
    secretKeyText: `untrusted comment: minisign secret key ${id} (unencrypted)\n${b64(secret)}\n`,
  };
}

export function parseSecretKey(text: string): SecretKey {
  const line = text
    .split(/\r?\n/)
    .map((one) => one.trim())
    .find((one) => one && !one.startsWith("untrusted comment:"));
  const bytes = new Uint8Array(Buffer.from(line ?? "", "base64"));
  if (bytes.length !== 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32 || bytes[0] !== 0x45 || bytes[1] !== 0x64) {
    throw new Error("not a minisign Ed25519 secret key");
  }
  if (bytes[2] !== 0 || bytes[3] !== 0) {
    throw new Error(
      "this secret key is password-protected: sign with minisign -S, or make one with release keygen",
    );
  }
  const keyId = bytes.slice(54, 62);
  const sk = bytes.slice(62, 126);
  const checksum = bytes.slice(126);
  const expected = blake2b256(concat(ED, keyId, sk));
  if (!expected.every((byte, i) => byte === checksum[i]))
    throw new Error("the secret key's checksum is wrong");
  return { keyId, seed: sk.slice(0, 32), publicKey: sk.slice(32) };
}

export function publicKeyOf(secret: SecretKey): PublicKey {
  return parsePublicKey(b64(concat(ED, secret.keyId, secret.publicKey)));
}

async function ed25519Sign(secret: SecretKey, data: Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: "Ed25519", d: b64url(secret.seed), x: b64url(secret.publicKey) },
    { name: "Ed25519" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, arrayBuffer(data)));
}

/** A prehashed ("ED") signature file, as `minisign -S -t COMMENT` writes. */
export async function sign(data: Uint8Array, secret: SecretKey, trustedComment: string): Promise<string> {
  if (/[\r\n]/.test(trustedComment)) throw new Error("a trusted comment is one line");
  const signature = await ed25519Sign(secret, blake2b512(data));
  const global = await ed25519Sign(secret, concat(signature, new TextEncoder().encode(trustedComment)));
  const id = keyIdText(secret.keyId);
  return `untrusted comment: signature from relevo secret key ${id}\n${b64(concat(new Uint8Array([0x45, 0x44]), secret.keyId, signature))}\ntrusted comment: ${trustedComment}\n${b64(global)}\n`;
}
