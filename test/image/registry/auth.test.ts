import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RegistryError } from "../../../src/errors.ts";
import { parseReference } from "../../../src/image/reference.ts";
import { createRegistryClient, resolveRegistryImage } from "../../../src/image/registry/index.ts";
import { harnessEnv } from "../../infra/env.ts";
import { type IsolatedHome, isolatedHome, startFront, testConfig } from "./helpers.ts";

const env = harnessEnv();
const config = testConfig();
const debian11 = env.images.images.debian11;
const basicAuth = (user: string, pass: string) => Buffer.from(`${user}:${pass}`).toString("base64");

type Source =
  | "own auth file"
  | "docker config.json auths"
  | "credential helper"
  | "docker credsStore"
  | "podman auth.json";

/** Writes credentials for `registry` where `source` keeps them, inside the isolated home. */
async function storeIn(home: IsolatedHome, source: Source, registry: string, user: string, pass: string) {
  const e = home.env;
  const write = async (path: string, document: unknown) => {
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, JSON.stringify(document));
  };
  const auths = { auths: { [registry]: { auth: basicAuth(user, pass) } } };
  switch (source) {
    case "own auth file":
      return write(join(e["XDG_CONFIG_HOME"]!, "hyperclair", "auth.json"), auths);
    case "docker config.json auths":
      return write(join(e["DOCKER_CONFIG"]!, "config.json"), {
        auths: { [`http://${registry}`]: { auth: basicAuth(user, pass) } },
      });
    case "podman auth.json":
      return write(join(e["XDG_RUNTIME_DIR"]!, "containers", "auth.json"), auths);
    case "credential helper":
    case "docker credsStore": {
      // docker-credential-helpers protocol: `get`, server URL on stdin, JSON on stdout.
      const bin = join(home.dir, "bin");
      await mkdir(bin, { recursive: true });
      const script = join(bin, "docker-credential-hctest");
      await writeFile(
        script,
        `#!/bin/sh
read server
echo "$1 $server" >> "${join(home.dir, "helper.log")}"
if [ "$server" = "${registry}" ]; then
  printf '{"ServerURL":"%s","Username":"${user}","Secret":"${pass}"}' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
`,
      );
      await chmod(script, 0o755);
      e["PATH"] = `${bin}:${process.env["PATH"]}`;
      const document =
        source === "credential helper"
          ? { credHelpers: { [registry]: "hctest" } }
          : { credsStore: "hctest", auths: { [registry]: {} } };
      return write(join(e["DOCKER_CONFIG"]!, "config.json"), document);
    }
  }
}

const sources: Source[] = [
  "own auth file",
  "docker config.json auths",
  "credential helper",
  "docker credsStore",
  "podman auth.json",
];

describe("registry auth", () => {
  let home: IsolatedHome;
  before(async () => {
    home = await isolatedHome();
  });
  after(() => home.cleanup());

  for (const [kind, registry] of [
    ["basic", env.registryBasic],
    ["token", env.registryToken],
  ] as const) {
    for (const source of sources) {
      it(`${kind} auth with credentials from the ${source}`, async () => {
        const h = await isolatedHome();
        try {
          await storeIn(h, source, registry, env.user, env.pass);
          const images = await resolveRegistryImage(parseReference(`${registry}/${debian11.refs.oci}`), {
            config,
            env: h.env,
          });
          assert.equal(images[0]!.digest, debian11.ociManifest.digest);
          if (source === "credential helper" || source === "docker credsStore") {
            assert.match(
              await readFile(join(h.dir, "helper.log"), "utf8"),
              new RegExp(`^get ${registry}$`, "m"),
            );
          }
        } finally {
          await h.cleanup();
        }
      });
    }

    it(`${kind} auth with --username/--password-stdin credentials; secrets stay out of debug lines`, async () => {
      const lines: string[] = [];
      const images = await resolveRegistryImage(parseReference(`${registry}/${debian11.refs.v2s2}`), {
        config,
        env: home.env,
        credentials: { username: env.user, password: env.pass },
        debug: (line) => lines.push(line),
      });
      assert.equal(images[0]!.digest, debian11.v2s2Manifest.digest);
      assert.ok(lines.some((l) => l.includes("> Authorization: [redacted]")));
      const all = lines.join("\n");
      assert.ok(!all.includes(env.pass));
      assert.ok(!all.includes(basicAuth(env.user, env.pass)));
      assert.ok(!/eyJ[\w-]+\.eyJ/.test(all), "a JWT leaked into the debug lines");
    });

    it(`${kind} auth without credentials fails with exit 3 and a login hint`, async () => {
      await assert.rejects(
        resolveRegistryImage(parseReference(`${registry}/${debian11.refs.oci}`), { config, env: home.env }),
        (error: unknown) => {
          assert.ok(error instanceof RegistryError);
          assert.equal(error.exitCode, 3);
          assert.match(
            error.message,
            kind === "basic" ? /requires authentication/ : /denied pull access.*anonymous/,
          );
          assert.match(error.hint ?? "", /hyperclair login/);
          return true;
        },
      );
    });

    it(`${kind} auth with a wrong password fails with exit 3, an auth hint, and no password in it`, async () => {
      const lines: string[] = [];
      await assert.rejects(
        resolveRegistryImage(parseReference(`${registry}/${debian11.refs.oci}`), {
          config,
          env: home.env,
          credentials: { username: env.user, password: "wrong-secret-pw" },
          debug: (line) => lines.push(line),
        }),
        (error: unknown) => {
          assert.ok(error instanceof RegistryError);
          assert.equal(error.exitCode, 3);
          assert.match(error.message, /rejected the credentials of testuser/);
          assert.match(error.hint ?? "", /check the username and password/);
          const text = [error.message, error.hint, ...error.debug, ...lines].join("\n");
          assert.ok(!text.includes("wrong-secret-pw"));
          assert.ok(!text.includes(basicAuth(env.user, "wrong-secret-pw")));
          return true;
        },
      );
    });
  }

  it("pulls public/alpine315 from the token registry with an anonymous token", async () => {
    const images = await resolveRegistryImage(
      parseReference(`${env.registryToken}/${env.images.publicRef}`),
      {
        config,
        env: home.env,
      },
    );
    assert.equal(images[0]!.digest, env.images.images.alpine315.ociManifest.digest);
  });

  it("surfaces the token server's scope enforcement as a clear error", async () => {
    const reader = { username: "reader", password: "readerpass" };
    const allowed = await resolveRegistryImage(parseReference(`${env.registryToken}/test/debian11:latest`), {
      config,
      env: home.env,
      credentials: reader,
    });
    assert.equal(allowed[0]!.digest, debian11.ociManifest.digest);
    await assert.rejects(
      resolveRegistryImage(parseReference(`${env.registryToken}/test/debian12:latest`), {
        config,
        env: home.env,
        credentials: reader,
      }),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.match(error.message, /denied pull access to test\/debian12 for reader/);
        assert.match(error.hint ?? "", /no pull access/);
        return true;
      },
    );
  });

  it("fetches a new token when the cached one has expired", async () => {
    // The front points the Bearer realm at itself and asks the token server for 1-second tokens.
    const front = await startFront(env.registryToken, () => "forward", {
      tokenRealm: env.tokenRealm,
      tokenQuery: { ttl: "1" },
    });
    try {
      const client = createRegistryClient({
        config,
        env: home.env,
        credentials: { username: env.user, password: env.pass },
      });
      const reference = parseReference(`${front.address}/${debian11.refs.oci}`);
      const tokenRequests = () => front.requests.filter((r) => r.url.startsWith("/token")).length;
      await resolveRegistryImage(reference, { config, client });
      assert.equal(tokenRequests(), 1, "manifest and config share one token");
      await resolveRegistryImage(reference, { config, client });
      assert.equal(tokenRequests(), 1, "a live token is reused");
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const [image] = await resolveRegistryImage(reference, { config, client });
      assert.equal(image!.digest, debian11.ociManifest.digest);
      assert.equal(tokenRequests(), 2);
    } finally {
      await front.close();
    }
  });

  it("fetches a new token once when the registry rejects a cached one", async () => {
    let rejected = false;
    const front = await startFront(
      env.registryToken,
      (request) => {
        if (
          !rejected &&
          request.url.includes("/manifests/") &&
          request.authorization?.startsWith("Bearer ")
        ) {
          rejected = true;
          return {
            status: 401,
            headers: {
              "www-authenticate": `Bearer realm="http://${front.address}/token",service="hyperclair-test-registry",error="invalid_token"`,
            },
            body: '{"errors":[{"code":"UNAUTHORIZED"}]}',
          };
        }
        return "forward";
      },
      { tokenRealm: env.tokenRealm },
    );
    try {
      const [image] = await resolveRegistryImage(parseReference(`${front.address}/${debian11.refs.oci}`), {
        config,
        env: home.env,
        credentials: { username: env.user, password: env.pass },
      });
      assert.equal(image!.digest, debian11.ociManifest.digest);
      assert.ok(rejected);
      assert.equal(front.requests.filter((r) => r.url.startsWith("/token")).length, 2);
    } finally {
      await front.close();
    }
  });

  it("gives Clair a fresh Authorization for each layer blob, which the registry accepts", async () => {
    for (const registry of [env.registryToken, env.registryBasic, env.registry]) {
      const client = createRegistryClient({
        config,
        env: home.env,
        credentials: { username: env.user, password: env.pass },
      });
      const [image] = await resolveRegistryImage(parseReference(`${registry}/${debian11.refs.oci}`), {
        config,
        client,
      });
      const layer = image!.layers[0]!;
      const first = await client.authorizationFor(layer.location);
      const second = await client.authorizationFor(layer.location);
      if (registry === env.registry) {
        assert.equal(first, undefined);
      } else if (registry === env.registryBasic) {
        assert.equal(first, `Basic ${basicAuth(env.user, env.pass)}`);
      } else {
        assert.match(first ?? "", /^Bearer /);
        assert.notEqual(first, second, "each call fetches a new token");
      }
      assert.equal(layer.location.kind, "registry");
      const response = await fetch(layer.location.kind === "registry" ? layer.location.url : "", {
        headers: second === undefined ? {} : { authorization: second },
      });
      assert.equal(response.status, 200);
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, layer.digest);
    }
  });
});
