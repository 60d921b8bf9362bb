import { readFileSync } from "node:fs";
import { SignJWT } from "jose";
import { ConfigError } from "../errors.ts";

/** Token lifetime. Quay uses 5 minutes; short enough that a leaked debug line is worth little. */
const TOKEN_TTL_S = 300;
/** Sign a new token once less than this is left, so a token never expires in flight. */
const RESIGN_MARGIN_S = 60;
/** `nbf` is backdated like clairctl's signer so small clock skew with Clair does not reject the token. */
const NOT_BEFORE_SKEW_S = 60;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Returns a function that yields a PSK JWT for Clair v4 (NOTES.md §2.2, Clair `middleware/auth/httpauth_psk.go`),
 * or undefined when no key is configured. The token is HS256 over the base64-*decoded* key bytes, with
 * `iss`, `iat`, `nbf` (now − 60 s) and `exp` (now + 5 min); it is cached and re-signed when less than 60 s remain.
 * `now` returns milliseconds since the epoch (like `Date.now`). A key that is not base64 is a ConfigError.
 */
export function createPskSigner(
  psk: { key: string; keyFile: string; issuer: string },
  now: () => number = Date.now,
): (() => Promise<string>) | undefined {
  const text = readPskText(psk);
  if (text === undefined) return undefined;
  const key = decodePskKey(text, psk.key.trim() !== "" ? "clair.psk.key" : "clair.psk.keyFile");
  const issuer = psk.issuer.trim() === "" ? "hyperclair" : psk.issuer.trim();
  let cached: { token: string; exp: number } | undefined;

  return async () => {
    const nowS = Math.floor(now() / 1000);
    if (cached !== undefined && cached.exp - nowS >= RESIGN_MARGIN_S) return cached.token;
    const exp = nowS + TOKEN_TTL_S;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(issuer)
      .setIssuedAt(nowS)
      .setNotBefore(nowS - NOT_BEFORE_SKEW_S)
      .setExpirationTime(exp)
      .sign(key);
    cached = { token, exp };
    return token;
  };
}

function readPskText(psk: { key: string; keyFile: string }): string | undefined {
  if (psk.key.trim() !== "") return psk.key.trim();
  if (psk.keyFile.trim() === "") return undefined;
  try {
    return readFileSync(psk.keyFile, "utf8").trim();
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "cannot read it";
    throw new ConfigError(`clair.psk.keyFile ${psk.keyFile}: ${reason}`, {
      hint: "point clair.psk.keyFile at a file holding Clair's base64 auth.psk.key",
      cause: error,
    });
  }
}

/**
 * Clair decodes `auth.psk.key` with Go's base64.StdEncoding and HMACs with the raw bytes; signing with the
 * base64 text itself is the classic mistake that makes every request 401. The key's text never goes into
 * the error, since it is a secret.
 */
function decodePskKey(text: string, setting: string): Uint8Array {
  const compact = text.replace(/\s+/g, "");
  if (!BASE64.test(compact) || compact.replace(/=+$/, "").length % 4 === 1) {
    throw new ConfigError(`${setting} is not base64`, {
      hint: "use the value of Clair's auth.psk.key as is (standard base64, e.g. from `openssl rand -base64 32`)",
    });
  }
  const bytes = Buffer.from(compact, "base64");
  if (bytes.length === 0) throw new ConfigError(`${setting} decodes to an empty key`);
  return new Uint8Array(bytes);
}
