/**
 * What the daemon benchmarks share: a private dockerd holding a generated image of random data, and the
 * run/exit-code plumbing of a benchmark script.
 */
import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";

export const gib = 1024 ** 3;

export interface LargeDaemonImage {
  /** DOCKER_HOST of the private dockerd. */
  host: string;
  /** The image's tag in that daemon. */
  repoTag: string;
  /** A scratch directory removed with the daemon. */
  workDir: string;
  log(line: string): void;
}

/** Starts dockerd, loads a `sizeBytes` image of random data in 4 layers, runs `measure`, stops everything. */
export async function withLargeDaemonImage<T>(
  name: string,
  sizeBytes: number,
  measure: (image: LargeDaemonImage) => Promise<T>,
): Promise<T> {
  const { startHarness } = await import("../../test/infra/harness.ts");
  const { generateLargeImage } = await import("../../test/images/large.ts");
  const { loadDockerArchive } = await import("../../test/images/publish.ts");
  const log = (line: string) => process.stderr.write(`[${name}] ${line}\n`);
  const harness = await startHarness({ services: ["docker"], images: false });
  try {
    const host = harness.dockerHost!;
    const workDir = join(harness.stateDir, `bench-${name}`);
    mkdirSync(workDir, { recursive: true });
    log(`generating a ${(sizeBytes / gib).toFixed(2)} GiB image of random data`);
    const large = await generateLargeImage({ dir: join(workDir, "large"), sizeBytes, layers: 4 });
    log("loading it into dockerd");
    await loadDockerArchive(host, large.dockerArchive);
    // Only the daemon's copy is needed from here on.
    await rm(join(workDir, "large"), { recursive: true, force: true });
    return await measure({ host, repoTag: large.repoTag, workDir, log });
  } finally {
    await harness.stop();
  }
}

/** Runs a benchmark's main function: its result is the exit code; a failure is one line and exit 1. */
export function runBenchmark(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `[${name}] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
