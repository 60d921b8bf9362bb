import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ImageError } from "../../src/errors.ts";
import { manifestReferenceOf, parseImageArgument, parseReference } from "../../src/image/reference.ts";

const sha = `sha256:${"a".repeat(64)}`;

// Modelled on distribution/reference's normalize_test.go and reference_test.go.
const valid: Array<[input: string, canonical: string, familiar: string, apiHost: string]> = [
  ["alpine", "docker.io/library/alpine:latest", "alpine:latest", "registry-1.docker.io"],
  ["alpine:3.19", "docker.io/library/alpine:3.19", "alpine:3.19", "registry-1.docker.io"],
  ["library/alpine", "docker.io/library/alpine:latest", "alpine:latest", "registry-1.docker.io"],
  ["docker.io/alpine", "docker.io/library/alpine:latest", "alpine:latest", "registry-1.docker.io"],
  ["index.docker.io/alpine", "docker.io/library/alpine:latest", "alpine:latest", "registry-1.docker.io"],
  ["user/app", "docker.io/user/app:latest", "user/app:latest", "registry-1.docker.io"],
  ["user/app/sub:v1", "docker.io/user/app/sub:v1", "user/app/sub:v1", "registry-1.docker.io"],
  ["registry:5000/app:tag", "registry:5000/app:tag", "registry:5000/app:tag", "registry:5000"],
  ["localhost/app", "localhost/app:latest", "localhost/app:latest", "localhost"],
  ["localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest", "localhost:5000"],
  ["localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "registry-1.docker.io"],
  [
    "127.0.0.1:5000/test/debian11:v2s2",
    "127.0.0.1:5000/test/debian11:v2s2",
    "127.0.0.1:5000/test/debian11:v2s2",
    "127.0.0.1:5000",
  ],
  ["ghcr.io/o/r", "ghcr.io/o/r:latest", "ghcr.io/o/r:latest", "ghcr.io"],
  [`app:1@${sha}`, `docker.io/library/app:1@${sha}`, `app:1@${sha}`, "registry-1.docker.io"],
  [`ghcr.io/o/r@${sha}`, `ghcr.io/o/r@${sha}`, `ghcr.io/o/r@${sha}`, "ghcr.io"],
  [
    "a-b_c__d/e.f--g:T_a.g-1",
    "docker.io/a-b_c__d/e.f--g:T_a.g-1",
    "a-b_c__d/e.f--g:T_a.g-1",
    "registry-1.docker.io",
  ],
  ["Foo.example/bar", "Foo.example/bar:latest", "Foo.example/bar:latest", "Foo.example"],
  ["[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest", "[::1]:5000"],
];

const invalidCases: Array<[input: string, rule: RegExp]> = [
  ["", /at least one component/],
  ["Alpine", /must be lowercase/],
  ["docker.io/User/app", /must be lowercase/],
  ["localhost:5000/App", /must be lowercase/],
  ["alpine:", /tag ""/],
  ["alpine:-x", /tag "-x"/],
  [`alpine:${"t".repeat(129)}`, /tag/],
  ["alpine@sha256:abc", /digest/],
  [`alpine@sha256:${"A".repeat(64)}`, /64 lower-case hex/],
  ["a" + "/b".repeat(130), /255 characters/],
  ["app_/x", /path component "app_"/],
  ["user/-app", /path component "-app"/],
  ["user//app", /must not be empty/],
  ["-host.com/app", /registry host "-host.com"/],
  ["my_host.com/app", /registry host "my_host.com"/],
  ["host.com:abc/app", /tag|port/],
  ["a".repeat(64).replace(/a/g, "f"), /image ID/],
  ["alp ine", /white space/],
  [":tag", /at least one component/],
];

describe("parseReference", () => {
  for (const [input, canonical, familiar, apiHost] of valid) {
    it(`normalises ${input}`, () => {
      const reference = parseReference(input);
      assert.equal(reference.canonical, canonical);
      assert.equal(reference.familiar, familiar);
      assert.equal(reference.apiHost, apiHost);
      assert.ok(canonical.startsWith(`${reference.domain}/${reference.path}`));
    });
  }

  for (const [input, rule] of invalidCases) {
    it(`rejects ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (error: unknown) => {
          assert.ok(error instanceof ImageError, `expected ImageError, got ${String(error)}`);
          assert.equal(error.exitCode, 2);
          assert.match(error.message, /^invalid reference format/);
          assert.match(error.message, rule);
          assert.ok(error.hint);
          return true;
        },
      );
    });
  }

  it("keeps the tag for display and fetches by digest when both are given", () => {
    const reference = parseReference(`127.0.0.1:5000/test/app:1.2@${sha}`);
    assert.equal(reference.tag, "1.2");
    assert.equal(reference.digest, sha);
    assert.equal(manifestReferenceOf(reference), sha);
    assert.equal(manifestReferenceOf(parseReference("app:1.2")), "1.2");
  });

  it("adds latest only when neither tag nor digest is given", () => {
    assert.equal(parseReference(`app@${sha}`).tag, undefined);
    assert.equal(parseReference("app").tag, "latest");
  });

  it("splits domain and path", () => {
    const reference = parseReference("localhost:5000/team/app:1");
    assert.deepEqual(
      { domain: reference.domain, path: reference.path, tag: reference.tag },
      { domain: "localhost:5000", path: "team/app", tag: "1" },
    );
  });
});

describe("parseImageArgument", () => {
  it("reads plain references as registry images, or daemon images with --local", () => {
    const remote = parseImageArgument("alpine:3");
    assert.equal(remote.kind, "registry");
    assert.equal(remote.kind === "registry" && remote.reference.canonical, "docker.io/library/alpine:3");
    const local = parseImageArgument("myapp:dev", { local: true });
    assert.equal(local.kind, "daemon");
    assert.equal(local.kind === "daemon" && local.name, "docker.io/library/myapp:dev");
  });

  it("reads the explicit sources", () => {
    const cases: Array<[string, unknown]> = [
      ["registry:alpine", "registry"],
      ["docker://alpine", "registry"],
      ["docker:alpine", "daemon"],
      ["docker-archive:/tmp/a.tar", { kind: "docker-archive", path: "/tmp/a.tar" }],
      ["docker-archive:/tmp/a.tar:app:1", { kind: "docker-archive", path: "/tmp/a.tar", selector: "app:1" }],
      ["oci-archive:img.tar", { kind: "oci-archive", path: "img.tar" }],
      ["oci:/var/oci:debian11", { kind: "oci-dir", path: "/var/oci", selector: "debian11" }],
      ["oci:layout", { kind: "oci-dir", path: "layout" }],
    ];
    for (const [arg, expected] of cases) {
      const input = parseImageArgument(arg);
      if (typeof expected === "string") {
        assert.equal(input.kind, expected, arg);
        assert.equal("reference" in input && input.reference?.canonical, "docker.io/library/alpine:latest");
      } else {
        assert.deepEqual(input, expected, arg);
      }
    }
  });

  it("passes daemon image IDs through as given; they are not repository names", () => {
    const id = `sha256:${"ab".repeat(32)}`;
    for (const arg of [id, id.slice(7), id.slice(7, 19)]) {
      for (const input of [parseImageArgument(arg, { local: true }), parseImageArgument(`docker:${arg}`)]) {
        assert.deepEqual(input, { kind: "daemon", reference: undefined, name: arg });
      }
    }
  });

  it("reads a registry host named like a source as a host", () => {
    const input = parseImageArgument("registry:5000/app:tag");
    assert.equal(input.kind, "registry");
    assert.equal(input.kind === "registry" && input.reference.apiHost, "registry:5000");
    const docker = parseImageArgument("docker:5000/app");
    assert.equal(docker.kind === "registry" && docker.reference.domain, "docker:5000");
  });

  it("rejects a source that contradicts --local, and an archive without a path", () => {
    assert.throws(() => parseImageArgument("registry:alpine", { local: true }), ImageError);
    assert.throws(() => parseImageArgument("oci-archive:x.tar", { local: true }), ImageError);
    assert.throws(() => parseImageArgument("oci:"), /needs a path/);
    assert.throws(() => parseImageArgument("docker:Alpine"), /must be lowercase/);
  });
});
