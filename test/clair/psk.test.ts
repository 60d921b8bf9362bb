import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { createPskSigner } from "../../src/clair/psk.ts";
import { ConfigError, ExitCode } from "../../src/errors.ts";

// Clair's local-dev key: base64 of "secret" (NOTES.md §2.2).
const KEY_B64 = "c2VjcmV0";
const T0 = 1_700_000_000_000;

function clock(start: number): { now: () => number; advance: (seconds: number) => void } {
  let t = start;
  return { now: () => t, advance: (s) => (t += s * 1000) };
}

describe("createPskSigner", () => {
  it("returns undefined when neither key nor keyFile is set", () => {
    assert.equal(createPskSigner({ key: "", keyFile: "", issuer: "hyperclair" }), undefined);
  });

  it("signs HS256 with the base64-decoded key bytes and the claims Clair checks", async () => {
    const sign = createPskSigner({ key: KEY_B64, keyFile: "", issuer: "ci-bot" }, () => T0)!;
    const token = await sign();
    assert.equal(decodeProtectedHeader(token).alg, "HS256");
    const { payload } = await jwtVerify(token, new TextEncoder().encode("secret"), {
      currentDate: new Date(T0),
      algorithms: ["HS256"],
    });
    const now = T0 / 1000;
    assert.equal(payload.iss, "ci-bot");
    assert.equal(payload.iat, now);
    assert.equal(payload.nbf, now - 60);
    assert.equal(payload.exp, now + 300);
    // Signing with the base64 text instead of the bytes is the mistake Clair rejects with 401.
    await assert.rejects(jwtVerify(token, new TextEncoder().encode(KEY_B64), { currentDate: new Date(T0) }));
  });

  it("uses the issuer hyperclair when none is given", async () => {
    const sign = createPskSigner({ key: KEY_B64, keyFile: "", issuer: "" }, () => T0)!;
    const { payload } = await jwtVerify(await sign(), new TextEncoder().encode("secret"), {
      currentDate: new Date(T0),
    });
    assert.equal(payload.iss, "hyperclair");
  });

  it("reuses the token until less than 60 s remain, then signs a fresh one", async () => {
    const c = clock(T0);
    const sign = createPskSigner({ key: KEY_B64, keyFile: "", issuer: "hyperclair" }, c.now)!;
    const first = await sign();
    c.advance(240); // 60 s left: still good
    assert.equal(await sign(), first);
    c.advance(1); // 59 s left: re-sign
    const second = await sign();
    assert.notEqual(second, first);
    const { payload } = await jwtVerify(second, new TextEncoder().encode("secret"), {
      currentDate: new Date(c.now()),
    });
    assert.equal(payload.exp, T0 / 1000 + 241 + 300);
  });

  it("reads keyFile once, trimming the whitespace around the base64 text", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hyperclair-psk-"));
    try {
      const file = join(dir, "psk");
      writeFileSync(file, `  ${KEY_B64}\n`);
      const sign = createPskSigner({ key: "", keyFile: file, issuer: "hyperclair" }, () => T0)!;
      writeFileSync(file, Buffer.from("other").toString("base64"));
      await jwtVerify(await sign(), new TextEncoder().encode("secret"), { currentDate: new Date(T0) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects a key that is not base64 with a ConfigError (exit 2) that does not show the key", () => {
    const bad = "not-base64!secret$value";
    assert.throws(
      () => createPskSigner({ key: bad, keyFile: "", issuer: "hyperclair" }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.exitCode, ExitCode.usage);
        assert.match(error.message, /clair\.psk\.key is not base64/);
        assert.ok(!`${error.message} ${error.hint}`.includes(bad));
        return true;
      },
    );
  });

  it("reports a missing keyFile as a ConfigError naming the setting", () => {
    assert.throws(
      () => createPskSigner({ key: "", keyFile: "/nonexistent/psk", issuer: "hyperclair" }),
      (error: unknown) => error instanceof ConfigError && /clair\.psk\.keyFile/.test(error.message),
    );
  });
});
