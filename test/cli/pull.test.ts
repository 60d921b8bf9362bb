import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { harnessEnv } from "../infra/env.ts";
import { freshDir, runCli, stderrLines } from "./run-cli.ts";

const env = harnessEnv();

/** History records `/bin/sh -c …`; hyperclair shows the Dockerfile instruction. */
function dockerfileStep(createdBy: string): string {
  const nop = /^\/bin\/sh -c #\(nop\)\s+/;
  if (nop.test(createdBy)) return createdBy.replace(nop, "").trim();
  return createdBy.replace(/^\/bin\/sh -c /, "RUN ").trim();
}

function errorLines(result: { stderr: string }): string[] {
  return stderrLines(result as Parameters<typeof stderrLines>[0]).filter((line) => line.startsWith("error:"));
}
const { images } = env;

interface PulledLayer {
  index: number;
  digest: string;
  diffId: string;
  size: number;
  createdBy?: string;
  location: { kind: string };
}
interface Pulled {
  reference: string;
  source: string;
  digest: string;
  digestKind: string;
  platform: { os: string; architecture: string; variant?: string };
  layers: PulledLayer[];
}

async function pullJson(
  args: string[],
  extraEnv: Record<string, string> = {},
  stdin?: string,
): Promise<Pulled[]> {
  const result = await runCli(["pull", ...args, "--format", "json"], {
    env: { HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-"), ...extraEnv },
    ...(stdin === undefined ? {} : { stdin }),
  });
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { images: Pulled[] }).images;
}

describe("pull from a registry", () => {
  test("an OCI image: manifest digest, layers, diff IDs and Dockerfile steps", async () => {
    const expected = images.images["debian11-multi"];
    const [image] = await pullJson([`${env.registry}/${expected.refs.oci}`]);
    assert.ok(image);
    assert.equal(image.source, "registry");
    assert.equal(image.digest, expected.ociManifest.digest);
    assert.deepEqual(
      image.layers.map((layer) => [layer.digest, layer.diffId, layer.createdBy]),
      expected.layers.map((layer) => [layer.digest, layer.diffId, dockerfileStep(layer.createdBy)]),
    );
    assert.ok(image.layers.every((layer) => layer.location.kind === "registry"));
  });

  test("the table names the platform and every layer", async () => {
    const expected = images.images.debian11;
    const result = await runCli(["pull", `${env.registry}/${expected.refs.v2s2}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /platform +linux\/amd64/);
    assert.match(result.stdout, new RegExp(expected.v2s2Manifest.digest));
    assert.match(result.stdout, new RegExp(expected.layers[0]!.digest.slice(7, 19)));
  });

  test("basic auth with --username and --password-stdin", async () => {
    const expected = images.images.debian12;
    const [image] = await pullJson(
      [`${env.registryBasic}/${expected.refs.oci}`, "--username", env.user, "--password-stdin"],
      {},
      `${env.pass}\n`,
    );
    assert.equal(image?.digest, expected.ociManifest.digest);
  });

  test("token auth through login; logout takes it away again", async () => {
    const home = freshDir("hc-home-");
    const login = await runCli(["login", env.registryToken, "--username", env.user, "--password-stdin"], {
      env: { HOME: home },
      stdin: env.pass,
    });
    assert.equal(login.code, 0, login.stderr);
    assert.ok(!login.stderr.includes(env.pass));
    const ref = `${env.registryToken}/${images.images.alpine315.refs.oci}`;
    const pulled = await runCli(["pull", ref, "--format", "json"], { env: { HOME: home } });
    assert.equal(pulled.code, 0, pulled.stderr);
    const logout = await runCli(["logout", env.registryToken], { env: { HOME: home } });
    assert.equal(logout.code, 0, logout.stderr);
    const denied = await runCli(["pull", ref], { env: { HOME: home } });
    assert.equal(denied.code, 3, denied.stderr);
    assert.equal(errorLines(denied).length, 1, denied.stderr);
    assert.match(errorLines(denied)[0]!, /hyperclair login/);
  });

  test("wrong credentials: exit 3, one line with an auth hint, no password", async () => {
    const result = await runCli(["login", env.registryBasic, "--username", env.user, "--password-stdin"], {
      stdin: "wrong-password-123",
    });
    assert.equal(result.code, 3);
    const lines = errorLines(result);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /credential|password|auth|401/i);
    assert.ok(!result.stderr.includes("wrong-password-123"));
  });

  test("multi-arch: --platform picks, a missing platform exits 2 listing the others, --all-platforms gives all", async () => {
    const arm = images.multiarch.manifests.find((entry) => entry.platform.architecture === "arm64")!;
    for (const ref of [images.multiarch.refs.oci, images.multiarch.refs.v2s2]) {
      const [image] = await pullJson([`${env.registry}/${ref}`, "--platform", "linux/arm64"]);
      assert.equal(image?.platform.architecture, "arm64");
      if (ref === images.multiarch.refs.oci) assert.equal(image?.digest, arm.digest);
      const all = await pullJson([`${env.registry}/${ref}`, "--all-platforms"]);
      assert.deepEqual(all.map((entry) => entry.platform.architecture).sort(), ["amd64", "arm64"]);
    }
    const missing = await runCli([
      "pull",
      `${env.registry}/${images.multiarch.refs.oci}`,
      "--platform",
      "linux/s390x",
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /linux\/amd64.*linux\/arm64/);
  });

  test("a malformed reference exits 2 naming the rule", async () => {
    const result = await runCli(["pull", "Registry.example/UPPER/case"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /lowercase/);
  });
});

describe("pull from the Docker daemon", () => {
  for (const [name, host] of [
    ["dockerd", env.dockerHost],
    ["podman", env.podmanHost],
  ] as const) {
    test(`${name}: --local resolves the multi-layer image with its diff IDs and steps`, async () => {
      const expected = images.images["debian11-multi"];
      const [image] = await pullJson([expected.refs.daemon, "--local"], { DOCKER_HOST: host });
      assert.equal(image?.source, "daemon");
      assert.deepEqual(
        image?.layers.map((layer) => layer.diffId),
        expected.layers.map((layer) => layer.diffId),
      );
      assert.ok(image?.layers.every((layer) => layer.location.kind === "cache"));
    });
  }

  test("by image ID, full and short, as docker prints them", async () => {
    const expected = images.images.debian12;
    const [byName] = await pullJson([expected.refs.daemon, "--local"], { DOCKER_HOST: env.dockerHost });
    const id = (byName as unknown as { configDigest: string }).configDigest;
    for (const arg of [id, id.slice(7, 19), `docker:${id.slice(7)}`]) {
      const [byId] = await pullJson(arg.startsWith("docker:") ? [arg] : [arg, "--local"], {
        DOCKER_HOST: env.dockerHost,
      });
      assert.deepEqual(
        byId?.layers.map((layer) => layer.diffId),
        expected.layers.map((layer) => layer.diffId),
        arg,
      );
    }
  });

  test("a missing socket: exit 3 naming it", async () => {
    const result = await runCli(["pull", "docker:alpine"], {
      env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" },
    });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /\/nonexistent\/docker\.sock/);
  });
});

describe("pull from archives", () => {
  const expected = images.images.debian11;
  const cases: Array<[string, string]> = [
    ["docker-archive (legacy)", `docker-archive:${expected.archives.docker}`],
    ["docker-archive (OCI layout)", `docker-archive:${expected.archives.dockerOciLayout}`],
    ["oci-archive", `oci-archive:${expected.archives.oci}`],
    ["oci layout dir", expected.ociLayoutRef],
  ];
  for (const [name, arg] of cases) {
    test(name, async () => {
      const [image] = await pullJson([arg]);
      assert.deepEqual(
        image?.layers.map((layer) => layer.diffId),
        expected.layers.map((layer) => layer.diffId),
      );
    });
  }

  test("a missing archive exits 2", async () => {
    const result = await runCli(["pull", "oci-archive:/nonexistent.tar"]);
    assert.equal(result.code, 2);
    assert.equal(errorLines(result).length, 1, result.stderr);
    assert.match(errorLines(result)[0]!, /no such file/);
  });
});
