import type { ExpectedPackage, Platform, TestImageName } from "../infra/env.ts";

/**
 * What the test images hold. The versions here are the keys of the Clair emulator's vulnerability
 * feed: change them only together with it.
 */

export type TreeEntry =
  | { path: string; type: "file"; content: string | Buffer; mode?: number }
  | { path: string; type: "symlink"; target: string };

export interface LayerSpec {
  entries: TreeEntry[];
  createdBy: string;
}

export interface ImageSpec {
  name: TestImageName;
  platform: Platform;
  distribution: { id: string; versionId: string; prettyName: string };
  layers: LayerSpec[];
  /** History steps that made no layer (written with `empty_layer: true`), appended after the layers. */
  emptySteps: string[];
  packages: ExpectedPackage[];
}

interface DpkgPackage {
  name: string;
  version: string;
  source?: string;
  section: string;
  priority: string;
  size: number;
  maintainer: string;
  multiArch?: string;
  arch?: string;
  depends?: string;
  description: string;
}

/** Formats one stanza with the fields in the order dpkg writes them (dpkg lib/dpkg/parse.c fieldinfos). */
function formatDpkgStanza(p: DpkgPackage): string {
  const lines = [
    `Package: ${p.name}`,
    "Status: install ok installed",
    `Priority: ${p.priority}`,
    `Section: ${p.section}`,
    `Installed-Size: ${p.size}`,
    `Maintainer: ${p.maintainer}`,
    `Architecture: ${p.arch ?? "amd64"}`,
  ];
  if (p.multiArch !== undefined) lines.push(`Multi-Arch: ${p.multiArch}`);
  if (p.source !== undefined) lines.push(`Source: ${p.source}`);
  lines.push(`Version: ${p.version}`);
  if (p.depends !== undefined) lines.push(`Depends: ${p.depends}`);
  lines.push(`Description: ${p.description}`, " This package is part of a hyperclair test image.");
  return `${lines.join("\n")}\n`;
}

function formatDpkgStatus(packages: DpkgPackage[]): string {
  return packages.map(formatDpkgStanza).join("\n");
}

function toExpected(packages: DpkgPackage[]): ExpectedPackage[] {
  return packages.map((p) => ({
    name: p.name,
    version: p.version,
    ...(p.source === undefined ? {} : { source: p.source }),
    arch: p.arch ?? "amd64",
  }));
}

const deb11Base: DpkgPackage[] = [
  {
    name: "base-files",
    version: "11.1+deb11u3",
    section: "admin",
    priority: "required",
    size: 340,
    maintainer: "Santiago Vila <sanvila@debian.org>",
    description: "Debian base system miscellaneous files",
  },
  {
    name: "libc6",
    version: "2.31-13+deb11u3",
    source: "glibc",
    section: "libs",
    priority: "optional",
    size: 12837,
    maintainer: "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
    multiArch: "same",
    depends: "libgcc-s1, libcrypt1",
    description: "GNU C Library: Shared libraries",
  },
  {
    name: "zlib1g",
    version: "1:1.2.11.dfsg-2+deb11u1",
    source: "zlib",
    section: "libs",
    priority: "optional",
    size: 174,
    maintainer: "Mark Brown <broonie@debian.org>",
    multiArch: "same",
    depends: "libc6 (>= 2.14)",
    description: "compression library - runtime",
  },
  {
    name: "bash",
    version: "5.1-2+deb11u1",
    section: "shells",
    priority: "required",
    size: 6470,
    maintainer: "Matthias Klose <doko@debian.org>",
    multiArch: "foreign",
    depends: "base-files (>= 2.1.12), debianutils (>= 2.15)",
    description: "GNU Bourne Again SHell",
  },
];

const deb11Extra: DpkgPackage[] = [
  {
    name: "libssl1.1",
    version: "1.1.1n-0+deb11u3",
    source: "openssl",
    section: "libs",
    priority: "optional",
    size: 4126,
    maintainer: "Debian OpenSSL Team <pkg-openssl-devel@lists.alioth.debian.org>",
    multiArch: "same",
    depends: "libc6 (>= 2.25), debconf (>= 0.5) | debconf-2.0",
    description: "Secure Sockets Layer toolkit - shared libraries",
  },
  {
    name: "openssl",
    version: "1.1.1n-0+deb11u3",
    section: "utils",
    priority: "optional",
    size: 1467,
    maintainer: "Debian OpenSSL Team <pkg-openssl-devel@lists.alioth.debian.org>",
    multiArch: "foreign",
    depends: "libc6 (>= 2.15), libssl1.1 (>= 1.1.1)",
    description: "Secure Sockets Layer toolkit - cryptographic utility",
  },
  {
    name: "libcurl4",
    version: "7.74.0-1.3+deb11u1",
    source: "curl",
    section: "libs",
    priority: "optional",
    size: 727,
    maintainer: "Alessandro Ghedini <ghedo@debian.org>",
    multiArch: "same",
    depends: "libc6 (>= 2.17), libssl1.1 (>= 1.1.1), zlib1g (>= 1:1.1.4)",
    description: "easy-to-use client-side URL transfer library (OpenSSL flavour)",
  },
  {
    name: "curl",
    version: "7.74.0-1.3+deb11u1",
    section: "web",
    priority: "optional",
    size: 411,
    maintainer: "Alessandro Ghedini <ghedo@debian.org>",
    depends: "libc6 (>= 2.17), libcurl4 (= 7.74.0-1.3+deb11u1), zlib1g (>= 1:1.1.4)",
    description: "command line tool for transferring data with URL syntax",
  },
];

const deb12Packages: DpkgPackage[] = [
  {
    name: "base-files",
    version: "12.4+deb12u1",
    section: "admin",
    priority: "required",
    size: 394,
    maintainer: "Santiago Vila <sanvila@debian.org>",
    description: "Debian base system miscellaneous files",
  },
  {
    name: "libc6",
    version: "2.36-9+deb12u1",
    source: "glibc",
    section: "libs",
    priority: "optional",
    size: 12985,
    maintainer: "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
    multiArch: "same",
    depends: "libgcc-s1",
    description: "GNU C Library: Shared libraries",
  },
  {
    name: "zlib1g",
    version: "1:1.2.13.dfsg-1",
    source: "zlib",
    section: "libs",
    priority: "optional",
    size: 168,
    maintainer: "Mark Brown <broonie@debian.org>",
    multiArch: "same",
    depends: "libc6 (>= 2.14)",
    description: "compression library - runtime",
  },
  {
    name: "libssl3",
    version: "3.0.9-1",
    source: "openssl",
    section: "libs",
    priority: "optional",
    size: 6155,
    maintainer: "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>",
    multiArch: "same",
    depends: "libc6 (>= 2.34)",
    description: "Secure Sockets Layer toolkit - shared libraries",
  },
  {
    name: "openssl",
    version: "3.0.9-1",
    section: "utils",
    priority: "optional",
    size: 2251,
    maintainer: "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>",
    multiArch: "foreign",
    depends: "libc6 (>= 2.34), libssl3 (>= 3.0.9)",
    description: "Secure Sockets Layer toolkit - cryptographic utility",
  },
];

const debian11OsRelease = `PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`;

const debian12OsRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`;

const alpineOsRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.15.0
PRETTY_NAME="Alpine Linux v3.15"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://bugs.alpinelinux.org/"
`;

/** A shell script standing in for a shell: the images are for scanning, not for running. */
const fakeShell = "#!/bin/sh\n# placeholder: hyperclair test images are not runnable\nexit 0\n";

interface ApkPackage {
  name: string;
  version: string;
  origin: string;
  size: number;
  installedSize: number;
  description: string;
  license: string;
  depends?: string;
  provides?: string;
  files?: Array<{ dir: string; names: string[] }>;
}

const alpinePackages: ApkPackage[] = [
  {
    name: "musl",
    version: "1.2.2-r7",
    origin: "musl",
    size: 383152,
    installedSize: 622592,
    description: "the musl c library (libc) implementation",
    license: "MIT",
    provides: "so:libc.musl-ARCH.so.1=1",
    files: [{ dir: "lib", names: ["ld-musl-ARCH.so.1", "libc.musl-ARCH.so.1"] }],
  },
  {
    name: "busybox",
    version: "1.34.1-r3",
    origin: "busybox",
    size: 504422,
    installedSize: 962560,
    description: "Size optimized toolbox of many common UNIX utilities",
    license: "GPL-2.0-only",
    depends: "so:libc.musl-ARCH.so.1",
    provides: "/bin/sh cmd:busybox=1.34.1-r3 cmd:sh=1.34.1-r3",
    files: [{ dir: "bin", names: ["busybox", "sh"] }],
  },
  {
    name: "alpine-baselayout",
    version: "3.2.0-r18",
    origin: "alpine-baselayout",
    size: 20136,
    installedSize: 413696,
    description: "Alpine base dir structure and init scripts",
    license: "GPL-2.0-only",
    depends: "/bin/sh so:libc.musl-ARCH.so.1",
    files: [{ dir: "etc", names: ["hosts", "passwd", "group"] }],
  },
  {
    name: "libcrypto1.1",
    version: "1.1.1l-r7",
    origin: "openssl",
    size: 1212825,
    installedSize: 2772992,
    description: "Crypto library from openssl",
    license: "OpenSSL",
    depends: "so:libc.musl-ARCH.so.1",
    provides: "so:libcrypto.so.1.1=1.1",
    files: [{ dir: "lib", names: ["libcrypto.so.1.1"] }],
  },
  {
    name: "libssl1.1",
    version: "1.1.1l-r7",
    origin: "openssl",
    size: 212911,
    installedSize: 540672,
    description: "SSL shared libraries",
    license: "OpenSSL",
    depends: "so:libc.musl-ARCH.so.1 so:libcrypto.so.1.1",
    provides: "so:libssl.so.1.1=1.1",
    files: [{ dir: "lib", names: ["libssl.so.1.1"] }],
  },
  {
    name: "zlib",
    version: "1.2.11-r3",
    origin: "zlib",
    size: 53490,
    installedSize: 110592,
    description: "A compression/decompression Library",
    license: "Zlib",
    depends: "so:libc.musl-ARCH.so.1",
    provides: "so:libz.so.1=1.2.11",
    files: [{ dir: "lib", names: ["libz.so.1"] }],
  },
  {
    name: "apk-tools",
    version: "2.12.7-r3",
    origin: "apk-tools",
    size: 120745,
    installedSize: 307200,
    description: "Alpine Package Keeper - package manager for alpine",
    license: "GPL-2.0-only",
    depends: "musl>=1.2 ca-certificates-bundle so:libc.musl-ARCH.so.1 so:libcrypto.so.1.1 so:libssl.so.1.1",
    provides: "so:libapk.so.3.12.0=3.12.0 cmd:apk=2.12.7-r3",
    files: [{ dir: "sbin", names: ["apk"] }],
  },
];

/** Formats `lib/apk/db/installed` (apk-tools database format: one letter, a colon, the value). */
function formatApkInstalled(arch: string, libArch: string): string {
  const fix = (s: string) => s.replaceAll("ARCH", libArch);
  return alpinePackages
    .map((p, index) => {
      const lines = [
        // A stable stand-in for the package checksum, so the file never changes between builds.
        `C:Q1${Buffer.from(`${p.name}-${p.version}-${arch}`).toString("base64").slice(0, 26)}=`,
        `P:${p.name}`,
        `V:${p.version}`,
        `A:${arch}`,
        `S:${p.size}`,
        `I:${p.installedSize}`,
        `T:${p.description}`,
        "U:https://alpinelinux.org",
        `L:${p.license}`,
        `o:${p.origin}`,
        "m:Natanael Copa <ncopa@alpinelinux.org>",
        `t:${1636000000 + index * 1000}`,
        `c:${"0123456789abcdef".repeat(3).slice(index, index + 40)}`,
      ];
      if (p.depends !== undefined) lines.push(`D:${fix(p.depends)}`);
      if (p.provides !== undefined) lines.push(`p:${fix(p.provides)}`);
      for (const dir of p.files ?? []) {
        lines.push(`F:${dir.dir}`);
        for (const name of dir.names) lines.push(`R:${fix(name)}`, "a:0:0:755");
      }
      return `${lines.join("\n")}\n`;
    })
    .join("\n")
    .concat("\n");
}

const addStep = (hex: string) => `/bin/sh -c #(nop) ADD file:${hex} in / `;
const cmdStep = '/bin/sh -c #(nop)  CMD ["bash"]';

function debian11Spec(): ImageSpec {
  const packages = [...deb11Base, ...deb11Extra];
  return {
    name: "debian11",
    platform: { os: "linux", architecture: "amd64" },
    distribution: { id: "debian", versionId: "11", prettyName: "Debian GNU/Linux 11 (bullseye)" },
    layers: [
      {
        createdBy: addStep("a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"),
        entries: [
          { path: "bin/sh", type: "file", content: fakeShell, mode: 0o755 },
          { path: "etc/debian_version", type: "file", content: "11.3\n" },
          { path: "etc/os-release", type: "file", content: debian11OsRelease },
          { path: "var/lib/dpkg/status", type: "file", content: formatDpkgStatus(packages) },
        ],
      },
    ],
    emptySteps: [cmdStep],
    packages: toExpected(packages),
  };
}

function debian11MultiSpec(): ImageSpec {
  const packages = [...deb11Base, ...deb11Extra];
  // 64 KiB of deterministic bytes standing in for a shared library.
  const libssl = Buffer.alloc(64 * 1024);
  for (let i = 0; i < libssl.length; i++) libssl[i] = (i * 31 + 7) & 0xff;
  return {
    name: "debian11-multi",
    platform: { os: "linux", architecture: "amd64" },
    distribution: { id: "debian", versionId: "11", prettyName: "Debian GNU/Linux 11 (bullseye)" },
    layers: [
      {
        createdBy: addStep("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        entries: [
          { path: "bin/sh", type: "file", content: fakeShell, mode: 0o755 },
          { path: "etc/debian_version", type: "file", content: "11.3\n" },
          { path: "etc/os-release", type: "file", content: debian11OsRelease },
          { path: "etc/removeme.conf", type: "file", content: "# removed by a later layer\n" },
          { path: "var/cache/app/a", type: "file", content: "a\n" },
          { path: "var/cache/app/b", type: "file", content: "b\n" },
          { path: "var/lib/dpkg/status", type: "file", content: formatDpkgStatus(deb11Base) },
        ],
      },
      {
        createdBy:
          "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends openssl curl && rm -rf /var/lib/apt/lists/*",
        entries: [
          { path: "usr/lib/libssl.so", type: "symlink", target: "libssl.so.1.1" },
          { path: "usr/lib/libssl.so.1.1", type: "file", content: libssl, mode: 0o644 },
          { path: "var/lib/dpkg/status", type: "file", content: formatDpkgStatus(packages) },
        ],
      },
      {
        createdBy:
          "/bin/sh -c rm /etc/removeme.conf && rm -rf /var/cache/app && mkdir -p /var/cache/app && echo c > /var/cache/app/c",
        entries: [
          { path: "etc/.wh.removeme.conf", type: "file", content: "" },
          { path: "var/cache/app/.wh..wh..opq", type: "file", content: "" },
          { path: "var/cache/app/c", type: "file", content: "c\n" },
        ],
      },
    ],
    emptySteps: [cmdStep],
    packages: toExpected(packages),
  };
}

function debian12Spec(): ImageSpec {
  return {
    name: "debian12",
    platform: { os: "linux", architecture: "amd64" },
    distribution: { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)" },
    layers: [
      {
        createdBy: addStep("5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"),
        entries: [
          { path: "bin/sh", type: "file", content: fakeShell, mode: 0o755 },
          { path: "etc/debian_version", type: "file", content: "12.1\n" },
          { path: "etc/os-release", type: "file", content: debian12OsRelease },
          { path: "var/lib/dpkg/status", type: "file", content: formatDpkgStatus(deb12Packages) },
        ],
      },
    ],
    emptySteps: [cmdStep],
    packages: toExpected(deb12Packages),
  };
}

function alpineSpec(name: "alpine315" | "alpine315-arm64"): ImageSpec {
  const arm = name === "alpine315-arm64";
  const apkArch = arm ? "aarch64" : "x86_64";
  const platform: Platform = arm
    ? { os: "linux", architecture: "arm64", variant: "v8" }
    : { os: "linux", architecture: "amd64" };
  return {
    name,
    platform,
    distribution: { id: "alpine", versionId: "3.15.0", prettyName: "Alpine Linux v3.15" },
    layers: [
      {
        createdBy: addStep(
          arm
            ? "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
            : "be11be11be11be11be11be11be11be11be11be11be11be11be11be11be11be11",
        ),
        entries: [
          { path: "bin/sh", type: "file", content: fakeShell, mode: 0o755 },
          { path: "etc/alpine-release", type: "file", content: "3.15.0\n" },
          { path: "etc/os-release", type: "file", content: alpineOsRelease },
          { path: "lib/apk/db/installed", type: "file", content: formatApkInstalled(apkArch, apkArch) },
        ],
      },
    ],
    emptySteps: ['/bin/sh -c #(nop)  CMD ["/bin/sh"]'],
    packages: alpinePackages.map((p) => ({
      name: p.name,
      version: p.version,
      ...(p.origin === p.name ? {} : { source: p.origin }),
      arch: apkArch,
    })),
  };
}

/** Every single-platform test image, in build order. */
export function listImageSpecs(): ImageSpec[] {
  return [
    debian11Spec(),
    debian11MultiSpec(),
    debian12Spec(),
    alpineSpec("alpine315"),
    alpineSpec("alpine315-arm64"),
  ];
}
