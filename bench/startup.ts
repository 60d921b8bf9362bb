/**
 * Start-up benchmark: median wall time of `hyperclair --version` and `hyperclair --help` against
 * `node -e 0`, measured interleaved in the same run, printed as ratios. Target: at most 1.6×.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../bin/hyperclair.js", import.meta.url));
const runs = Number(process.env["BENCH_RUNS"] ?? 25);
const target = 1.6;

const subjects: Record<string, string[]> = {
  "node -e 0": ["-e", "0"],
  "hyperclair --version": [bin, "--version"],
  "hyperclair --help": [bin, "--help"],
};

function timeOnce(args: string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${args.join(" ")} exited ${result.status}`);
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const samples = new Map<string, number[]>(Object.keys(subjects).map((name) => [name, []]));
for (const args of Object.values(subjects)) timeOnce(args); // warm the file cache
for (let run = 0; run < runs; run++) {
  for (const [name, args] of Object.entries(subjects)) samples.get(name)!.push(timeOnce(args));
}

const baseline = median(samples.get("node -e 0")!);
let failed = false;
console.log(`startup (${runs} runs each, interleaved; median wall time)`);
for (const [name, values] of samples) {
  const value = median(values);
  const ratio = value / baseline;
  const verdict =
    name === "node -e 0" ? "baseline" : ratio <= target ? `ok (≤ ${target}×)` : `OVER ${target}×`;
  if (name !== "node -e 0" && ratio > target) failed = true;
  console.log(`  ${name.padEnd(22)} ${value.toFixed(1).padStart(7)} ms  ${ratio.toFixed(2)}×  ${verdict}`);
}
process.exitCode = failed ? 1 : 0;
