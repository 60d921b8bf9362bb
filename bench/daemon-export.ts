/**
 * Exporting a local image from the Docker daemon into the layer cache: a generated image of random data
 * (≥ 1 GiB) is loaded into a private dockerd, then, in the same run, `docker save > /dev/null` is timed
 * against hyperclair's export into an empty cache, run in a child process so its peak RSS (VmHWM) is its own.
 * Targets: throughput ≥ 0.70 of docker save, peak RSS < 150 MB.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  gib,
  type LargeDaemonImage,
  runBenchmark,
  withLargeDaemonImage,
} from "./support/large-daemon-image.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const imageBytes = Number(process.env["HC_BENCH_EXPORT_BYTES"]) || Math.ceil(1.05 * gib);
const rssLimitMb = 150;
const ratioTarget = 0.7;
const rounds = 3;

interface ChildResult {
  ms: number;
  layers: number;
  bytes: number;
  vmHwmKb: number;
}

/**
 * The measured side: what `pull --local` does, in a process of its own, printing one JSON line. It loads
 * the compiled code when it is built (what users run: no TypeScript loader in the measured RSS), else
 * the sources through tsx.
 */
function childCommand(host: string, cacheDir: string, reference: string): string[] {
  const built = join(root, "dist", "image", "daemon", "daemon-source.js");
  const modulePath = existsSync(built) ? built : join(root, "src", "image", "daemon", "daemon-source.ts");
  const script = `
    import { readFileSync } from "node:fs";
    const { resolveDaemonImage } = await import(${JSON.stringify(pathToFileURL(modulePath).href)});
    const [host, cacheDir, reference] = process.argv.slice(1);
    const started = performance.now();
    const image = await resolveDaemonImage(reference, { config: { docker: { host } }, cacheDir, env: {} });
    const ms = performance.now() - started;
    const vmHwmKb = Number(readFileSync("/proc/self/status", "utf8").match(/^VmHWM:\\s+(\\d+) kB$/m)?.[1] ?? 0);
    const bytes = image.layers.reduce((sum, layer) => sum + layer.size, 0);
    console.log(JSON.stringify({ ms, layers: image.layers.length, bytes, vmHwmKb }));
  `;
  const loader = modulePath.endsWith(".ts") ? ["--import", "tsx"] : [];
  return [...loader, "--input-type=module", "-e", script, host, cacheDir, reference];
}

function run(
  command: string,
  args: string[],
  discardStdout = false,
): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const stdio = discardStdout ? openSync("/dev/null", "w") : "pipe";
    const child = spawn(command, args, { stdio: ["ignore", stdio, "inherit"] });
    if (typeof stdio === "number") closeSync(stdio);
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve({ ms: performance.now() - started, stdout });
      else reject(new Error(`${command} ${args.join(" ")} exited with ${code}`));
    });
  });
}

async function measure({ host, repoTag, workDir, log }: LargeDaemonImage): Promise<number> {
  const large = { repoTag };
  const dockerCli = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
  const saves: number[] = [];
  const exports: ChildResult[] = [];
  const wall: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // `docker save IMAGE > /dev/null`: Debian's docker 20.10 refuses `-o /dev/null` ("got a device").
    const save = await run(dockerCli, ["-H", host, "save", large.repoTag], true);
    saves.push(save.ms);
    const cacheDir = join(workDir, `cache-${round}`);
    const child = await run(process.execPath, childCommand(host, cacheDir, large.repoTag));
    const result = JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as ChildResult;
    exports.push(result);
    wall.push(child.ms);
    await rm(cacheDir, { recursive: true, force: true });
    log(
      `round ${round + 1}: docker save ${(save.ms / 1000).toFixed(2)} s, export ${(result.ms / 1000).toFixed(2)} s ` +
        `(process ${(child.ms / 1000).toFixed(2)} s), peak RSS ${(result.vmHwmKb / 1024).toFixed(0)} MB`,
    );
  }
  const bestSave = Math.min(...saves);
  const bestExport = Math.min(...exports.map((result) => result.ms));
  const bestWall = Math.min(...wall);
  const peakRssMb = Math.max(...exports.map((result) => result.vmHwmKb)) / 1024;
  const bytes = exports[0]!.bytes;
  const mbps = (ms: number) => (bytes / 1024 ** 2 / (ms / 1000)).toFixed(0);
  const ratio = bestSave / bestExport;
  const wallRatio = bestSave / bestWall;
  console.log(`image: ${(bytes / gib).toFixed(2)} GiB in ${exports[0]!.layers} layers (${large.repoTag})`);
  console.log(
    `docker save > /dev/null: ${(bestSave / 1000).toFixed(2)} s (${mbps(bestSave)} MiB/s), best of ${rounds}`,
  );
  console.log(
    `hyperclair export into an empty cache: ${(bestExport / 1000).toFixed(2)} s (${mbps(bestExport)} MiB/s); ` +
      `whole process incl. start-up ${(bestWall / 1000).toFixed(2)} s`,
  );
  console.log(
    `throughput ratio (export / docker save): ${ratio.toFixed(2)} (target >= ${ratioTarget}); ` +
      `whole process: ${wallRatio.toFixed(2)}`,
  );
  console.log(`peak RSS of the exporting process: ${peakRssMb.toFixed(0)} MB (target < ${rssLimitMb} MB)`);
  const ok = ratio >= ratioTarget && peakRssMb < rssLimitMb;
  console.log(ok ? "daemon export: within targets" : "daemon export: OUTSIDE targets");
  return ok ? 0 : 1;
}

runBenchmark("daemon-export", () => withLargeDaemonImage("daemon-export", imageBytes, measure));
