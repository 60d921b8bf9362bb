/**
 * The emulator's fixture vulnerability feed: a handful of entries for the test images (Debian 11,
 * Debian 12, Alpine 3.15). Real Clair fills this from updaters; here it is fixed so tests know the answer.
 * Package names follow what Clair matches on: Debian by source package, Alpine by binary package
 * (Clair 2.x, `v1/recorded/README.md`).
 */
import { compareApkVersions, compareDpkgVersions } from "./versions.ts";

export type Severity = "Unknown" | "Negligible" | "Low" | "Medium" | "High" | "Critical";

export interface CvssV3 {
  version: "3.1";
  vectorString: string;
  baseScore: number;
  baseSeverity: "NONE" | "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";
}

export interface FeedEntry {
  /** Stable per-feed id, used as the v4 vulnerability id. */
  id: string;
  name: string;
  /** Clair v1 namespace: `debian:11`, `alpine:v3.15`. */
  namespace: string;
  /** Package names the entry applies to. */
  packages: string[];
  /** Fixed version; "" means no fix is available. */
  fixedIn: string;
  severity: Severity;
  /** The vendor's own severity word, reported by v4 as `severity`. */
  vendorSeverity: string;
  description: string;
  link: string;
  issued: string;
  /** v1 `Metadata.NVD`, in the shape recorded from Clair 2.1.0. */
  nvd?: { CVSSv2: { Score: number; Vectors: string } };
  /** v4 `clair.cvss` enrichment record. */
  cvss?: CvssV3;
}

const debianLink = (cve: string) => `https://security-tracker.debian.org/tracker/${cve}`;
const alpineLink = (cve: string) => `https://security.alpinelinux.org/vuln/${cve}`;

export const feed: FeedEntry[] = [
  {
    id: "1001",
    name: "CVE-2022-2068",
    namespace: "debian:11",
    packages: ["openssl"],
    fixedIn: "1.1.1n-0+deb11u4",
    severity: "High",
    vendorSeverity: "medium",
    description:
      "The c_rehash script does not properly sanitise shell metacharacters <script>alert(1)</script> & allows command injection.",
    link: debianLink("CVE-2022-2068"),
    issued: "2022-06-21T15:15:00Z",
    nvd: { CVSSv2: { Score: 10, Vectors: "AV:N/AC:L/Au:N/C:C/I:C/A:C" } },
    cvss: {
      version: "3.1",
      vectorString: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
      baseScore: 9.8,
      baseSeverity: "CRITICAL",
    },
  },
  {
    id: "1002",
    name: "CVE-2022-32221",
    namespace: "debian:11",
    packages: ["curl"],
    fixedIn: "7.74.0-1.3+deb11u7",
    severity: "Medium",
    vendorSeverity: "low",
    description: "When doing HTTP(S) transfers, libcurl might erroneously use the read callback after a PUT.",
    link: debianLink("CVE-2022-32221"),
    issued: "2022-12-05T22:15:00Z",
    nvd: { CVSSv2: { Score: 5, Vectors: "AV:N/AC:L/Au:N/C:P/I:N/A:N" } },
  },
  {
    id: "1003",
    name: "CVE-2022-37434",
    namespace: "debian:11",
    packages: ["zlib"],
    fixedIn: "1:1.2.11.dfsg-2+deb11u2",
    severity: "Critical",
    vendorSeverity: "high",
    description: "zlib through 1.2.12 has a heap-based buffer over-read or buffer overflow in inflate.",
    link: debianLink("CVE-2022-37434"),
    issued: "2022-08-05T07:15:00Z",
    cvss: {
      version: "3.1",
      vectorString: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
      baseScore: 9.8,
      baseSeverity: "CRITICAL",
    },
  },
  {
    // Fixed in a version older than the one the test image installs: must never match.
    id: "1004",
    name: "CVE-2018-25032",
    namespace: "debian:11",
    packages: ["zlib"],
    fixedIn: "1:1.2.11.dfsg-2",
    severity: "High",
    vendorSeverity: "medium",
    description: "zlib before 1.2.12 allows memory corruption when deflating.",
    link: debianLink("CVE-2018-25032"),
    issued: "2022-03-25T09:15:00Z",
  },
  {
    id: "1005",
    name: "CVE-2022-3715",
    namespace: "debian:11",
    packages: ["bash"],
    fixedIn: "",
    severity: "Low",
    vendorSeverity: "unimportant",
    description:
      "A flaw was found in the bash package, where a heap-buffer overflow can occur in valid parameter_transform.",
    link: debianLink("CVE-2022-3715"),
    issued: "2023-01-05T15:15:00Z",
  },
  {
    id: "1006",
    name: "CVE-2021-3999",
    namespace: "debian:11",
    packages: ["glibc"],
    fixedIn: "2.31-13+deb11u4",
    severity: "Negligible",
    vendorSeverity: "unimportant",
    description: "A flaw was found in glibc: an off-by-one buffer overflow and underflow in getcwd().",
    link: debianLink("CVE-2021-3999"),
    issued: "2022-08-24T16:15:00Z",
  },
  {
    id: "1007",
    name: "CVE-2023-4807",
    namespace: "debian:12",
    packages: ["openssl"],
    fixedIn: "3.0.11-1~deb12u1",
    severity: "High",
    vendorSeverity: "medium",
    description:
      "The POLY1305 MAC implementation contains a bug that might corrupt the internal state on Windows.",
    link: debianLink("CVE-2023-4807"),
    issued: "2023-09-08T12:15:00Z",
    nvd: { CVSSv2: { Score: 6.8, Vectors: "AV:N/AC:M/Au:N/C:P/I:P/A:P" } },
    cvss: {
      version: "3.1",
      vectorString: "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
      baseScore: 7.8,
      baseSeverity: "HIGH",
    },
  },
  {
    id: "1008",
    name: "CVE-2022-0778",
    namespace: "alpine:v3.15",
    packages: ["libssl1.1", "libcrypto1.1"],
    fixedIn: "1.1.1n-r0",
    severity: "High",
    vendorSeverity: "",
    description: "The BN_mod_sqrt() function can loop forever for non-prime moduli.",
    link: alpineLink("CVE-2022-0778"),
    issued: "2022-03-15T17:15:00Z",
  },
  {
    id: "1009",
    name: "CVE-2018-25032",
    namespace: "alpine:v3.15",
    packages: ["zlib"],
    fixedIn: "1.2.12-r0",
    severity: "Critical",
    vendorSeverity: "",
    description: "zlib before 1.2.12 allows memory corruption when deflating.",
    link: alpineLink("CVE-2018-25032"),
    issued: "2022-03-25T09:15:00Z",
  },
  {
    id: "1010",
    name: "CVE-2022-28391",
    namespace: "alpine:v3.15",
    packages: ["busybox"],
    fixedIn: "1.34.1-r5",
    severity: "Medium",
    vendorSeverity: "",
    description: "BusyBox through 1.35.0 allows remote attackers to execute arbitrary code via netstat.",
    link: alpineLink("CVE-2022-28391"),
    issued: "2022-04-03T21:15:00Z",
  },
];

/** The version format used for a namespace's comparisons (not the label Clair 2.x prints). */
export function versionFormatOf(namespace: string): "dpkg" | "apk" {
  return namespace.startsWith("alpine:") ? "apk" : "dpkg";
}

/** Namespaces the feed knows, as `GET /v1/namespaces` lists them. */
export function listFeedNamespaces(): string[] {
  return [...new Set(feed.map((e) => e.namespace))];
}

/**
 * Entries affecting `version` of a package known by any of `names` in `namespace`: unfixed entries
 * always apply, fixed ones only while the installed version is older than the fix.
 */
export function findVulnerabilities(namespace: string, names: string[], version: string): FeedEntry[] {
  const compare = versionFormatOf(namespace) === "apk" ? compareApkVersions : compareDpkgVersions;
  return feed.filter(
    (entry) =>
      entry.namespace === namespace &&
      entry.packages.some((p) => names.includes(p)) &&
      (entry.fixedIn === "" || compare(version, entry.fixedIn) < 0),
  );
}
