import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RegistryError } from "../../../src/errors.ts";
import { manifestDigestFor } from "../../../src/image/daemon/daemon-source.ts";
import {
  alternativeNames,
  formatDaemonName,
  looksLikeImageId,
  parseDaemonName,
  repoTagMatches,
} from "../../../src/image/daemon/find-image.ts";
import { createdByFromHistory } from "../../../src/image/daemon/history.ts";
import { pullParameters } from "../../../src/image/daemon/pull.ts";

const digestA = `sha256:${"a".repeat(64)}`;
const digestB = `sha256:${"b".repeat(64)}`;

describe("daemon names", () => {
  const cases: Array<[string, string | undefined]> = [
    ["alpine", "docker.io/library/alpine:latest"],
    ["alpine:3.15", "docker.io/library/alpine:3.15"],
    ["testimg/debian11", "docker.io/testimg/debian11:latest"],
    ["docker.io/testimg/debian11:latest", "docker.io/testimg/debian11:latest"],
    ["index.docker.io/library/alpine", "docker.io/library/alpine:latest"],
    ["localhost/app:2", "localhost/app:2"],
    ["127.0.0.1:5000/test/debian11", "127.0.0.1:5000/test/debian11:latest"],
    [`127.0.0.1:5000/test/debian11@${digestA}`, `127.0.0.1:5000/test/debian11@${digestA}`],
    [`app:1@${digestA}`, `docker.io/library/app:1@${digestA}`],
    [digestA, undefined],
    ["a".repeat(64), undefined],
    ["app@sha256:short", undefined],
    ["app:bad tag", undefined],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected ?? "not a name"}`, () => {
      const name = parseDaemonName(input);
      assert.equal(name === undefined ? undefined : formatDaemonName(name), expected);
    });
  }

  it("tells image IDs from names", () => {
    assert.ok(looksLikeImageId(digestA));
    assert.ok(looksLikeImageId("b".repeat(64)));
    assert.ok(looksLikeImageId("sha256:abcdef"));
    assert.ok(!looksLikeImageId("abcdef"), "a short hex string may be a name; the daemon decides");
  });

  it("looks for a familiar name where podman keeps it", () => {
    assert.deepEqual(alternativeNames(parseDaemonName("alpine315")!), [
      "docker.io/library/alpine315:latest",
      "localhost/alpine315:latest",
    ]);
    assert.deepEqual(alternativeNames(parseDaemonName("quay.io/x/y:1")!), ["quay.io/x/y:1"]);
    assert.ok(repoTagMatches("localhost/alpine315:latest", parseDaemonName("alpine315")!));
    assert.ok(repoTagMatches("testimg/debian11:latest", parseDaemonName("docker.io/testimg/debian11")!));
    assert.ok(!repoTagMatches("testimg/debian11:v2", parseDaemonName("testimg/debian11")!));
    assert.ok(!repoTagMatches("localhost/x:latest", parseDaemonName("quay.io/x")!));
  });
});

describe("the digest a daemon image is known by", () => {
  const repo = "127.0.0.1:5000/test/app";
  it("is the RepoDigest of the repository asked for", () => {
    assert.equal(manifestDigestFor(`${repo}:latest`, [`other/x@${digestB}`, `${repo}@${digestA}`]), digestA);
    assert.equal(manifestDigestFor("testimg/app", [`docker.io/testimg/app@${digestA}`]), digestA);
  });
  it("is the digest in the reference when there is one", () => {
    assert.equal(manifestDigestFor(`${repo}@${digestB}`, [`${repo}@${digestA}`]), digestB);
  });
  it("is none for an ID, or another repository's digest", () => {
    assert.equal(manifestDigestFor(digestA, [`${repo}@${digestA}`]), undefined);
    assert.equal(manifestDigestFor("testimg/app", [`${repo}@${digestA}`]), undefined);
  });
  it("is none when podman lists several, unless the pull said which", () => {
    const both = [`${repo}@${digestA}`, `${repo}@${digestB}`];
    assert.equal(manifestDigestFor(`${repo}:latest`, both), undefined);
    assert.equal(manifestDigestFor(`${repo}:latest`, both, digestB), digestB);
  });
});

describe("layer steps from the daemon's history", () => {
  const diffIds = [digestA, digestB];
  it("pairs real layers with their steps, skipping size-0 metadata steps (newest first in the API)", () => {
    const history = [
      { Id: "x", CreatedBy: '/bin/sh -c #(nop)  CMD ["bash"]', Size: 0 },
      { Id: "y", CreatedBy: "/bin/sh -c apt-get install -y curl", Size: 1234 },
      { Id: "z", CreatedBy: "/bin/sh -c #(nop) ENV A=b", Size: 0 },
      { Id: "w", CreatedBy: "/bin/sh -c #(nop) ADD file:abc in / ", Size: 5678 },
    ];
    assert.deepEqual(createdByFromHistory(history, diffIds), [
      "ADD file:abc in /",
      "RUN apt-get install -y curl",
    ]);
  });
  it("takes #(nop) steps as the empty ones when a real layer added no bytes", () => {
    const history = [
      { Id: "x", CreatedBy: "/bin/sh -c true", Size: 0 },
      { Id: "y", CreatedBy: "/bin/sh -c #(nop) ENV A=b", Size: 0 },
      { Id: "w", CreatedBy: "/bin/sh -c #(nop) ADD file:abc in / ", Size: 5678 },
    ];
    assert.deepEqual(createdByFromHistory(history, diffIds), ["ADD file:abc in /", "RUN true"]);
  });
  it("claims nothing when the history does not add up", () => {
    assert.deepEqual(createdByFromHistory([{ Id: "x", CreatedBy: "/bin/sh -c a", Size: 3 }], diffIds), [
      undefined,
      undefined,
    ]);
  });
});

describe("pull parameters", () => {
  it("splits the name into fromImage and tag (a digest goes in the tag)", () => {
    assert.deepEqual(pullParameters("alpine"), {
      fromImage: "docker.io/library/alpine",
      tag: "latest",
      registry: "docker.io",
    });
    assert.deepEqual(pullParameters(`127.0.0.1:5000/test/app@${digestA}`), {
      fromImage: "127.0.0.1:5000/test/app",
      tag: digestA,
      registry: "127.0.0.1:5000",
    });
  });
  it("refuses an image ID", () => {
    assert.throws(() => pullParameters(digestA), RegistryError);
  });
});
