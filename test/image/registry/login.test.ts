import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RegistryError } from "../../../src/errors.ts";
import { parseReference } from "../../../src/image/reference.ts";
import { login, logout, resolveRegistryImage } from "../../../src/image/registry/index.ts";
import { harnessEnv } from "../../infra/env.ts";
import { type IsolatedHome, isolatedHome, testConfig } from "./helpers.ts";

const env = harnessEnv();
const config = testConfig();
const debian11 = env.images.images.debian11;

describe("login and logout", () => {
  let home: IsolatedHome;
  let authFile: string;
  before(async () => {
    home = await isolatedHome();
    authFile = join(home.env["XDG_CONFIG_HOME"]!, "hyperclair", "auth.json");
  });
  after(() => home.cleanup());

  for (const [kind, registry] of [
    ["basic", env.registryBasic],
    ["token", env.registryToken],
  ] as const) {
    it(`stores nothing when the ${kind} registry rejects the password`, async () => {
      if (kind === "basic") await assert.rejects(stat(authFile), { code: "ENOENT" });
      await assert.rejects(
        login(registry, env.user, "not-the-password", { config, env: home.env }),
        (error: unknown) => {
          assert.ok(error instanceof RegistryError);
          assert.equal(error.exitCode, 3);
          assert.match(error.hint ?? "", /username and password/);
          assert.ok(!`${error.message} ${error.hint}`.includes("not-the-password"));
          return true;
        },
      );
      const text = await readFile(authFile, "utf8").catch(() => "{}");
      assert.equal((JSON.parse(text) as { auths?: Record<string, unknown> }).auths?.[registry], undefined);
    });

    it(`verifies against the ${kind} registry, writes a 0600 file, and later pulls use it`, async () => {
      const result = await login(registry, env.user, env.pass, { config, env: home.env });
      assert.deepEqual(result, { registry, file: authFile, verification: "verified" });
      assert.equal((await stat(authFile)).mode & 0o777, 0o600);
      assert.equal((await stat(dirname(authFile))).mode & 0o777, 0o700);
      const stored = JSON.parse(await readFile(authFile, "utf8")) as {
        auths: Record<string, { auth: string }>;
      };
      assert.ok(stored.auths[registry]);
      const [image] = await resolveRegistryImage(parseReference(`${registry}/${debian11.refs.oci}`), {
        config,
        env: home.env,
      });
      assert.equal(image!.digest, debian11.ociManifest.digest);
    });
  }

  it("keeps other registries' entries and removes one with logout", async () => {
    const first = await logout(env.registryBasic, { config, env: home.env });
    assert.equal(first.removed, true);
    assert.equal((await stat(authFile)).mode & 0o777, 0o600);
    const stored = JSON.parse(await readFile(authFile, "utf8")) as { auths: Record<string, unknown> };
    assert.deepEqual(Object.keys(stored.auths), [env.registryToken]);
    await assert.rejects(
      resolveRegistryImage(parseReference(`${env.registryBasic}/${debian11.refs.oci}`), {
        config,
        env: home.env,
      }),
      /requires authentication/,
    );
    const again = await logout(env.registryBasic, { config, env: home.env });
    assert.equal(again.removed, false);
  });

  it("honours registry.authFile, and says when the registry needs no login", async () => {
    const file = join(home.dir, "custom", "auth.json");
    const result = await login(env.registry, "anyone", "anything", {
      config: testConfig({ authFile: file }),
      env: home.env,
    });
    assert.equal(result.verification, "no-auth");
    assert.equal(result.file, file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(
      (await logout(env.registry, { config: testConfig({ authFile: file }), env: home.env })).removed,
      true,
    );
  });
});
