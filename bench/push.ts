/**
 * Pushing a local image of ≥ 1 GiB (random data, 4 layers) from a private dockerd to the Clair emulator,
 * through the layer server, with the real CLI (`hyperclair push --local`), measured in the same run:
 * - peak RSS of the CLI process during the push (target < 150 MB);
 * - pipelining: a cold push (export and submission overlapping) against the sum of the export alone
 *   (`pull --local` into an empty cache) and a push of the already-cached image (target ≤ 0.7).
 * Clair is the v1 emulator, whose layer-by-layer submission is what the pipelining overlaps with the export.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  gib,
  type LargeDaemonImage,
  runBenchmark,
  withLargeDaemonImage,
} from "./support/large-daemon-image.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "bin", "hyperclair.js");
const imageBytes = Number(process.env["HC_BENCH_PUSH_BYTES"]) || Math.ceil(1.05 * gib);
const rssLimitMb = 150;
const pipelineTarget = 0.7;
const rounds = 2;

interface Measured {
  ms: number;
  peakRssMb: number;
}

/** Runs the CLI; a preloaded hook records the process's own VmHWM as it exits. */
function runCli(args: string[], env: Record<string, string>, workDir: string): Promise<Measured> {
  const rssFile = join(workDir, `rss-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  const hook = join(workDir, "peak-rss.mjs");
  writeFileSync(
    hook,
    `import { readFileSync, writeFileSync } from "node:fs";
process.on("exit", () => {
  const kb = readFileSync("/proc/self/status", "utf8").match(/^VmHWM:\\s+(\\d+) kB$/m)?.[1] ?? "0";
  writeFileSync(${JSON.stringify(rssFile)}, kb);
});
`,
  );
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["--import", hook, bin, ...args], {
      env: { PATH: process.env["PATH"] ?? "", HOME: workDir, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const ms = performance.now() - started;
      if (code !== 0)
        return reject(new Error(`hyperclair ${args.join(" ")} exited ${code}: ${stderr.slice(-500)}`));
      resolve({ ms, peakRssMb: Number(readFileSync(rssFile, "utf8")) / 1024 });
    });
  });
}

async function measure({ host, repoTag: image, workDir, log }: LargeDaemonImage): Promise<number> {
  const { startEmulator } = await import("../test/emulator/index.ts");
  const withClair = async <T>(run: (url: string) => Promise<T>): Promise<T> => {
    const clair = await startEmulator({ api: "v1" });
    try {
      return await run(clair.url);
    } finally {
      await clair.close();
    }
  };
  const env = (clairUrl: string, cacheDir: string) => ({
    DOCKER_HOST: host,
    HYPERCLAIR_CLAIR_URL: clairUrl,
    HYPERCLAIR_CLAIR_API: "v1",
    HYPERCLAIR_CACHE_DIR: cacheDir,
  });

  // dockerd's first save of a freshly loaded image also pays for reading it from disk: warm it once.
  const warmup = join(workDir, "cache-warmup");
  await runCli(["pull", image, "--local", "--quiet"], env("http://127.0.0.1:9", warmup), workDir);
  await rm(warmup, { recursive: true, force: true });

  const colds: Measured[] = [];
  const exports: Measured[] = [];
  const cachedPushes: Measured[] = [];
  for (let round = 1; round <= rounds; round++) {
    const coldCache = join(workDir, "cache-cold");
    colds.push(
      await withClair((url) => runCli(["push", image, "--local", "--quiet"], env(url, coldCache), workDir)),
    );
    await rm(coldCache, { recursive: true, force: true });
    const warmCache = join(workDir, "cache-warm");
    exports.push(
      await runCli(["pull", image, "--local", "--quiet"], env("http://127.0.0.1:9", warmCache), workDir),
    );
    cachedPushes.push(
      await withClair((url) => runCli(["push", image, "--local", "--quiet"], env(url, warmCache), workDir)),
    );
    await rm(warmCache, { recursive: true, force: true });
    log(
      `round ${round}: cold push ${(colds.at(-1)!.ms / 1000).toFixed(2)} s, export ${(exports.at(-1)!.ms / 1000).toFixed(2)} s, ` +
        `cached push ${(cachedPushes.at(-1)!.ms / 1000).toFixed(2)} s`,
    );
  }
  const best = (runs: Measured[]) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));
  const cold = { ...best(colds), peakRssMb: Math.max(...colds.map((run) => run.peakRssMb)) };
  const exportOnly = { ...best(exports), peakRssMb: Math.max(...exports.map((run) => run.peakRssMb)) };
  const cachedPush = {
    ...best(cachedPushes),
    peakRssMb: Math.max(...cachedPushes.map((run) => run.peakRssMb)),
  };

  const sum = exportOnly.ms + cachedPush.ms;
  const ratio = cold.ms / sum;
  const peak = Math.max(cold.peakRssMb, cachedPush.peakRssMb);
  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`image: ${(imageBytes / gib).toFixed(2)} GiB in 4 layers (${image}), Clair: v1 emulator`);
  console.log(
    `push --local, cold:              ${seconds(cold.ms)}, peak RSS ${cold.peakRssMb.toFixed(0)} MB`,
  );
  console.log(
    `pull --local (export alone):     ${seconds(exportOnly.ms)}, peak RSS ${exportOnly.peakRssMb.toFixed(0)} MB`,
  );
  console.log(
    `push --local, already cached:    ${seconds(cachedPush.ms)}, peak RSS ${cachedPush.peakRssMb.toFixed(0)} MB`,
  );
  console.log(
    `pipelining: cold / (export + cached push) = ${ratio.toFixed(2)} (target <= ${pipelineTarget})`,
  );
  console.log(`peak RSS of a push: ${peak.toFixed(0)} MB (target < ${rssLimitMb} MB)`);
  const ok = ratio <= pipelineTarget && peak < rssLimitMb;
  console.log(ok ? "push: within targets" : "push: OUTSIDE targets");
  return ok ? 0 : 1;
}

runBenchmark("push", () => withLargeDaemonImage("push", imageBytes, measure));
