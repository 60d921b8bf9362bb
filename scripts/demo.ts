/**
 * The README's first command: builds the small test images offline (an OCI layout, no daemon or
 * registry needed), starts the Clair emulator on loopback, and runs hyperclair's main job against it:
 * `analyze` of a three-layer Debian image through the layer server, with the v4 API and then the v1 API.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startEmulator } from "../test/emulator/index.ts";
import { buildTestImages } from "../test/images/build.ts";

const bin = fileURLToPath(new URL("../bin/hyperclair.js", import.meta.url));

function hyperclair(args: string[], env: Record<string, string>): Promise<number> {
  console.log(`\n$ hyperclair ${args.join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: "inherit",
      env: { ...process.env, ...env },
    });
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}

const work = await mkdtemp(join(tmpdir(), "hyperclair-demo-"));
let status = 0;
try {
  const images = await buildTestImages(join(work, "images"), { archives: false });
  const image = `oci:${images.ociDir}:debian11-multi`;
  for (const api of ["v4", "v1"] as const) {
    const clair = await startEmulator({ api });
    console.log(`\n# Clair emulator (${api} API) at ${clair.url}, health at ${clair.healthUrl}`);
    try {
      const env = {
        HYPERCLAIR_CLAIR_URL: clair.url,
        HYPERCLAIR_CLAIR_HEALTH_URL: clair.healthUrl,
        HYPERCLAIR_CACHE_DIR: join(work, `cache-${api}`),
      };
      status ||= await hyperclair(["health"], env);
      status ||= await hyperclair(["analyze", image], env);
    } finally {
      await clair.close();
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
process.exitCode = status;
