import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findVulnerabilities } from "./feed.ts";
import { compareApkVersions, compareDpkgVersions } from "./versions.ts";

/** [lower, higher] pairs: each must compare < 0 one way and > 0 the other. */
function assertOrdered(compare: (a: string, b: string) => number, pairs: Array<[string, string]>) {
  for (const [low, high] of pairs) {
    assert.ok(compare(low, high) < 0, `${low} < ${high}`);
    assert.ok(compare(high, low) > 0, `${high} > ${low}`);
  }
}

describe("dpkg version comparison", () => {
  test("epochs win over everything else", () => {
    assertOrdered(compareDpkgVersions, [
      ["9.9-9", "1:0.1-1"],
      ["1:1.2.11.dfsg-2+deb11u1", "2:0"],
    ]);
  });

  test("tilde sorts before the end of the string, even before nothing", () => {
    assertOrdered(compareDpkgVersions, [
      ["1.0~rc1", "1.0"],
      ["1.0~~", "1.0~"],
      ["3.0.9-1", "3.0.11-1~deb12u1"],
      ["3.0.11-1~deb12u1", "3.0.11-1"],
    ]);
  });

  test("numbers compare numerically, letters before other characters", () => {
    assertOrdered(compareDpkgVersions, [
      ["1.2.9", "1.2.10"],
      ["7.74.0-1.3+deb11u1", "7.74.0-1.3+deb11u7"],
      ["1.1.1n-0+deb11u3", "1.1.1n-0+deb11u4"],
      ["1.0a", "1.0+"],
      ["2.31-13+deb11u3", "2.31-13+deb11u4"],
    ]);
  });

  test("revisions compare after the upstream version; missing revision is lowest", () => {
    assertOrdered(compareDpkgVersions, [
      ["1.0-1", "1.0-2"],
      ["1.0", "1.0-0.1"],
      ["1:1.2.11.dfsg-2", "1:1.2.11.dfsg-2+deb11u1"],
    ]);
  });

  test("equal versions, including leading zeros and an explicit zero epoch", () => {
    assert.equal(compareDpkgVersions("0:1.01-1", "1.1-1"), 0);
    assert.equal(compareDpkgVersions("5.1-2+deb11u1", "5.1-2+deb11u1"), 0);
  });
});

describe("apk version comparison", () => {
  test("-rN release numbers", () => {
    assertOrdered(compareApkVersions, [
      ["1.34.1-r3", "1.34.1-r5"],
      ["1.2.11-r3", "1.2.12-r0"],
      ["1.0-r9", "1.0-r10"],
    ]);
  });

  test("a trailing letter is a later version", () => {
    assertOrdered(compareApkVersions, [
      ["1.1.1l-r7", "1.1.1n-r0"],
      ["1.1.1", "1.1.1a"],
    ]);
  });

  test("_rc and other pre-release suffixes sort before the release, _p after", () => {
    assertOrdered(compareApkVersions, [
      ["1.0_alpha1", "1.0_beta1"],
      ["1.0_beta2", "1.0_rc1"],
      ["1.0_rc1", "1.0_rc2"],
      ["1.0_rc2", "1.0"],
      ["1.0", "1.0_p1"],
      ["1.0_rc1-r5", "1.0-r0"],
    ]);
  });

  test("more components is later; numbers compare numerically", () => {
    assertOrdered(compareApkVersions, [
      ["1.2", "1.2.1"],
      ["1.9", "1.10"],
    ]);
    assert.equal(compareApkVersions("1.2.3-r0", "1.2.3"), 0);
  });
});

describe("fixture feed matching", () => {
  test("an entry fixed in an older version than installed does not match", () => {
    const names = findVulnerabilities("debian:11", ["zlib"], "1:1.2.11.dfsg-2+deb11u1").map((e) => e.name);
    assert.deepEqual(names, ["CVE-2022-37434"]);
  });

  test("the fixed version itself is no longer vulnerable", () => {
    assert.deepEqual(findVulnerabilities("debian:11", ["openssl"], "1.1.1n-0+deb11u4"), []);
    assert.deepEqual(findVulnerabilities("alpine:v3.15", ["busybox"], "1.34.1-r5"), []);
  });

  test("an unfixed entry matches every version", () => {
    assert.equal(findVulnerabilities("debian:11", ["bash"], "99.0")[0]?.fixedIn, "");
  });

  test("namespaces do not leak into each other", () => {
    assert.deepEqual(findVulnerabilities("debian:12", ["zlib"], "0.1"), []);
    assert.equal(findVulnerabilities("debian:12", ["openssl"], "3.0.9-1")[0]?.severity, "High");
  });
});
