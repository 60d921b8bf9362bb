/**
 * Version ordering for the two package formats the emulator understands.
 * dpkg: Debian Policy §5.6.12 (epoch, upstream, revision; `~` sorts before everything, even the end).
 * apk: apk-tools `apk_version_compare` (numbers, one letter, `_alpha`… `_p` suffixes, `-rN` release).
 */

/** Debian's character order inside a non-digit run: `~` < end < letters < everything else. */
function dpkgOrder(ch: string | undefined): number {
  if (ch === undefined) return 0;
  if (ch === "~") return -1;
  if (/[A-Za-z]/.test(ch)) return ch.charCodeAt(0);
  return ch.charCodeAt(0) + 256;
}

/** dpkg's `verrevcmp`: alternate non-digit and digit runs. */
function compareDpkgPart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !/[0-9]/.test(a[i]!)) || (j < b.length && !/[0-9]/.test(b[j]!))) {
      const ac = i < a.length && !/[0-9]/.test(a[i]!) ? a[i] : undefined;
      const bc = j < b.length && !/[0-9]/.test(b[j]!) ? b[j] : undefined;
      const diff = dpkgOrder(ac) - dpkgOrder(bc);
      if (diff !== 0) return Math.sign(diff);
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    while (i < a.length && /[0-9]/.test(a[i]!) && j < b.length && /[0-9]/.test(b[j]!)) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && /[0-9]/.test(a[i]!)) return 1;
    if (j < b.length && /[0-9]/.test(b[j]!)) return -1;
    if (firstDiff !== 0) return Math.sign(firstDiff);
  }
  return 0;
}

interface DpkgVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

function parseDpkgVersion(version: string): DpkgVersion {
  const v = version.trim();
  const colon = v.indexOf(":");
  const epoch = colon > 0 ? Number.parseInt(v.slice(0, colon), 10) : 0;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf("-");
  return dash >= 0
    ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
    : { epoch, upstream: rest, revision: "" };
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareDpkgVersions(a: string, b: string): number {
  const va = parseDpkgVersion(a);
  const vb = parseDpkgVersion(b);
  if (va.epoch !== vb.epoch) return va.epoch < vb.epoch ? -1 : 1;
  return compareDpkgPart(va.upstream, vb.upstream) || compareDpkgPart(va.revision, vb.revision);
}

// apk suffix ranks: pre-release suffixes sort before the plain release, post-release ones after.
const apkSuffixRank: Record<string, number> = {
  alpha: -4,
  beta: -3,
  pre: -2,
  rc: -1,
  cvs: 1,
  svn: 2,
  git: 3,
  hg: 4,
  p: 5,
};

interface ApkVersion {
  numbers: bigint[];
  letter: string;
  suffixes: Array<{ rank: number; value: bigint }>;
  release: bigint;
}

function parseApkVersion(version: string): ApkVersion {
  const match = /^([0-9]+(?:\.[0-9]+)*)([a-z]?)((?:_[a-z]+[0-9]*)*)(?:-r([0-9]+))?$/.exec(version.trim());
  if (!match) {
    // An unparsable version still has to order somehow; treat it as its leading number run.
    const lead = /^[0-9]+/.exec(version)?.[0] ?? "0";
    return { numbers: [BigInt(lead)], letter: "", suffixes: [], release: 0n };
  }
  const suffixes = (match[3] ?? "")
    .split("_")
    .filter((s) => s !== "")
    .map((s) => {
      const m = /^([a-z]+)([0-9]*)$/.exec(s)!;
      return { rank: apkSuffixRank[m[1]!] ?? 0, value: BigInt(m[2] || "0") };
    });
  return {
    numbers: match[1]!.split(".").map((x) => BigInt(x)),
    letter: match[2] ?? "",
    suffixes,
    release: BigInt(match[4] ?? "0"),
  };
}

const cmp = (a: bigint | number | string, b: bigint | number | string): number =>
  a < b ? -1 : a > b ? 1 : 0;

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareApkVersions(a: string, b: string): number {
  const va = parseApkVersion(a);
  const vb = parseApkVersion(b);
  const len = Math.max(va.numbers.length, vb.numbers.length);
  for (let k = 0; k < len; k++) {
    const x = va.numbers[k];
    const y = vb.numbers[k];
    if (x === undefined) return -1; // 1.2 < 1.2.1
    if (y === undefined) return 1;
    const c = cmp(x, y);
    if (c !== 0) return c;
  }
  const letter = cmp(va.letter, vb.letter);
  if (letter !== 0) return letter;
  const slen = Math.max(va.suffixes.length, vb.suffixes.length);
  for (let k = 0; k < slen; k++) {
    const x = va.suffixes[k] ?? { rank: 0, value: 0n };
    const y = vb.suffixes[k] ?? { rank: 0, value: 0n };
    const c = cmp(x.rank, y.rank) || cmp(x.value, y.value);
    if (c !== 0) return c;
  }
  return cmp(va.release, vb.release);
}
