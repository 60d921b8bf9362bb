import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { harnessEnv } from "./env.ts";
import { manifestAccept, parseChallenge, requestRegistry, requestToken } from "./registry-http.ts";
import { computeLibtrustKeyId } from "./token-server.ts";

const env = harnessEnv();
const service = process.env["HC_TOKEN_SERVICE"] ?? "";
const testuser = { user: env.user, pass: env.pass };

function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header, claims] = token.split(".") as [string, string];
  return {
    header: JSON.parse(Buffer.from(header, "base64url").toString("utf8")),
    claims: JSON.parse(Buffer.from(claims, "base64url").toString("utf8")),
  };
}

async function getManifestWithToken(registry: string, repository: string, tag: string, token: string) {
  const response = await fetch(`http://${registry}/v2/${repository}/manifests/${tag}`, {
    headers: { accept: manifestAccept, authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("registries answer /v2/ as their auth mode says", () => {
  it("the plain registry answers 200 with the distribution API version header", async () => {
    const response = await fetch(`http://${env.registry}/v2/`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("docker-distribution-api-version"), "registry/2.0");
  });

  it("the basic-auth registry challenges with Basic, accepts testuser and refuses a wrong password", async () => {
    const anonymous = await fetch(`http://${env.registryBasic}/v2/`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get("www-authenticate"), 'Basic realm="basic-realm"');
    const good = await requestRegistry({ registry: env.registryBasic, path: "/v2/", credentials: testuser });
    assert.equal(good.status, 200);
    const bad = await requestRegistry({
      registry: env.registryBasic,
      path: "/v2/",
      credentials: { user: env.user, pass: "wrong" },
    });
    assert.equal(bad.status, 401);
  });

  it("the token registry challenges with Bearer pointing at the token server", async () => {
    const response = await fetch(`http://${env.registryToken}/v2/`);
    assert.equal(response.status, 401);
    const challenge = parseChallenge(response.headers.get("www-authenticate"));
    assert.equal(challenge?.scheme, "bearer");
    assert.equal(challenge?.params["realm"], env.tokenRealm);
    assert.equal(challenge?.params["service"], service);
  });
});

describe("token server", () => {
  it("signs RS256 tokens whose kid is the libtrust id of the registry's certificate", async () => {
    const cert = await readFile(join(env.stateDir, "registry-token", "token-cert.pem"));
    const response = await requestToken(env.tokenRealm, service, ["repository:test/debian11:pull"], testuser);
    assert.equal(response.status, 200);
    assert.equal(response.body["access_token"], response.token);
    assert.equal(response.body["expires_in"], 300);
    assert.equal(typeof response.body["issued_at"], "string");
    const { header, claims } = decodeJwt(response.token ?? "");
    assert.equal(header["alg"], "RS256");
    assert.equal(header["kid"], computeLibtrustKeyId(cert));
    assert.equal(claims["aud"], service);
    assert.equal(claims["sub"], "testuser");
    assert.deepEqual(claims["access"], [{ type: "repository", name: "test/debian11", actions: ["pull"] }]);
    for (const claim of ["iss", "exp", "nbf", "iat", "jti"]) assert.ok(claims[claim] !== undefined, claim);
  });

  it("refuses bad credentials with 401", async () => {
    const response = await requestToken(env.tokenRealm, service, ["repository:test/debian11:pull"], {
      user: "testuser",
      pass: "nope",
    });
    assert.equal(response.status, 401);
    assert.equal(response.token, undefined);
    const unknown = await requestToken(env.tokenRealm, service, [], { user: "mallory", pass: "x" });
    assert.equal(unknown.status, 401);
  });

  it("grants testuser pull and push on any repository, and only what was asked", async () => {
    const response = await requestToken(
      env.tokenRealm,
      service,
      ["repository:test/debian12:pull,push", "repository:other/thing:pull"],
      testuser,
    );
    assert.deepEqual(decodeJwt(response.token ?? "").claims["access"], [
      { type: "repository", name: "test/debian12", actions: ["pull", "push"] },
      { type: "repository", name: "other/thing", actions: ["pull"] },
    ]);
  });
});

describe("the token registry enforces each token's scope", () => {
  it("testuser's token for test/debian11 reads debian11 but not debian12", async () => {
    const { token } = await requestToken(
      env.tokenRealm,
      service,
      ["repository:test/debian11:pull"],
      testuser,
    );
    const own = await getManifestWithToken(env.registryToken, "test/debian11", "latest", token ?? "");
    assert.equal(own.status, 200);
    assert.equal(own.body["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    const other = await getManifestWithToken(env.registryToken, "test/debian12", "latest", token ?? "");
    assert.equal(other.status, 401);
  });

  it("reader may pull test/debian11 but gets 401 with the registry's detail on test/debian12", async () => {
    const reader = { user: "reader", pass: "readerpass" };
    const allowed = await requestRegistry({
      registry: env.registryToken,
      path: "/v2/test/debian11/manifests/latest",
      accept: manifestAccept,
      credentials: reader,
      scope: "repository:test/debian11:pull",
    });
    assert.equal(allowed.status, 200);
    const pushToken = await requestToken(
      env.tokenRealm,
      service,
      ["repository:test/debian11:pull,push"],
      reader,
    );
    assert.deepEqual(decodeJwt(pushToken.token ?? "").claims["access"], [
      { type: "repository", name: "test/debian11", actions: ["pull"] },
    ]);
    const denied = await requestRegistry({
      registry: env.registryToken,
      path: "/v2/test/debian12/manifests/latest",
      accept: manifestAccept,
      credentials: reader,
      scope: "repository:test/debian12:pull",
    });
    assert.equal(denied.status, 401);
    const body = (await denied.json()) as {
      errors: Array<{ code: string; detail: Array<{ Type: string; Name: string; Action: string }> }>;
    };
    assert.equal(body.errors[0]?.code, "UNAUTHORIZED");
    const [detail] = body.errors[0]?.detail ?? [];
    assert.deepEqual([detail?.Type, detail?.Name, detail?.Action], ["repository", "test/debian12", "pull"]);
  });

  it("anonymous clients pull public/alpine315 but not test/debian11", async () => {
    const publicImage = await requestRegistry({
      registry: env.registryToken,
      path: "/v2/public/alpine315/manifests/latest",
      accept: manifestAccept,
      scope: "repository:public/alpine315:pull",
    });
    assert.equal(publicImage.status, 200);
    assert.equal(
      publicImage.headers.get("docker-content-digest"),
      env.images.images.alpine315.ociManifest.digest,
    );

    const anonymousToken = await requestToken(env.tokenRealm, service, ["repository:test/debian11:pull"]);
    assert.equal(anonymousToken.status, 200);
    assert.deepEqual(decodeJwt(anonymousToken.token ?? "").claims["access"], []);
    const privateImage = await getManifestWithToken(
      env.registryToken,
      "test/debian11",
      "latest",
      anonymousToken.token ?? "",
    );
    assert.equal(privateImage.status, 401);
  });

  it("a shortlived user's token works at once and is refused by the registry after it expires", async () => {
    const shortlived = { user: "shortlived", pass: "shortlivedpass" };
    const { token, body } = await requestToken(
      env.tokenRealm,
      service,
      ["repository:test/debian11:pull"],
      shortlived,
    );
    assert.equal(body["expires_in"], 2);
    const fresh = await getManifestWithToken(env.registryToken, "test/debian11", "latest", token ?? "");
    assert.equal(fresh.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    const expired = await getManifestWithToken(env.registryToken, "test/debian11", "latest", token ?? "");
    assert.equal(expired.status, 401);
  });
});
