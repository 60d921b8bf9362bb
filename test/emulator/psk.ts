/**
 * Clair v4 pre-shared-key auth (NOTES.md §2.2, Clair `middleware/auth/httpauth_psk.go`): a Bearer JWT
 * signed with HMAC over the base64-decoded key, `iss` either `clair-intraservice` or a configured issuer,
 * exp/nbf/iat checked with 15 s leeway. Anything else is a 401 with an empty body.
 */
import { errors, jwtVerify } from "jose";

export const defaultPskIssuers = ["hyperclair", "clairctl", "quay"];
const leewaySeconds = 15;

export interface PskVerifier {
  verify(authorization: string | undefined): Promise<boolean>;
}

export function createPskVerifier(pskBase64: string, issuers: string[]): PskVerifier {
  // Go's base64.StdEncoding: the HMAC key is the decoded bytes, never the text.
  const key = new Uint8Array(Buffer.from(pskBase64, "base64"));
  const accepted = new Set(["clair-intraservice", ...issuers]);
  return {
    async verify(authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
      if (!match) return false;
      try {
        const { payload } = await jwtVerify(match[1]!, key, {
          algorithms: ["HS256", "HS384", "HS512"],
          clockTolerance: leewaySeconds,
        });
        if (typeof payload.iss !== "string" || !accepted.has(payload.iss)) return false;
        const now = Math.floor(Date.now() / 1000);
        if (typeof payload.iat === "number" && payload.iat > now + leewaySeconds) return false;
        return true;
      } catch (err) {
        if (err instanceof errors.JOSEError) return false;
        throw err;
      }
    },
  };
}
