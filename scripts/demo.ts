import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startEmulator } from "../test/emulator/index.ts";

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

let status = 0;
for (const api of ["v4", "v1"] as const) {
  const clair = await startEmulator({ api });
  console.log(`\nClair emulator (${api} API) at ${clair.url}, health at ${clair.healthUrl}`);
  try {
    const env = { HYPERCLAIR_CLAIR_URL: clair.url, HYPERCLAIR_CLAIR_HEALTH_URL: clair.healthUrl };
    status ||= await hyperclair(["health"], env);
    status ||= await hyperclair(["version"], env);
  } finally {
    await clair.close();
  }
}
process.exitCode = status;
