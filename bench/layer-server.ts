/**
 * Layer server throughput on loopback against nginx (Debian package) serving the same ≥ 1 GiB file, in the
 * same run, with the same client: a Node HTTP client that discards the bytes. Each server runs in a process
 * of its own (the layer server from the built `dist/` when present, as users run it), rounds alternate
 * between the two and the median of each is compared. Target: layer server ≥ 0.80 of nginx.
 * Installs nginx with apt-get when it is missing (as root), runs it with a private config on a free
 * loopback port, and stops it by PID.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { chmod, mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const gib = 1024 ** 3;
const fileBytes = Number(process.env["HC_BENCH_SERVE_BYTES"]) || Math.ceil(1.05 * gib);
const rounds = Number(process.env["HC_BENCH_SERVE_ROUNDS"]) || 5;
const ratioTarget = 0.8;
const log = (line: string) => process.stderr.write(`[layer-server] ${line}\n`);

function findExecutable(name: string): string | undefined {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** nginx from Debian, installed on demand without letting the package start a system-wide nginx. */
function ensureNginx(): string {
  const found = findExecutable("nginx");
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error("nginx is missing; install it as root: apt-get install -y --no-install-recommends nginx");
  }
  log("installing nginx (apt-get)");
  const policy = "/usr/sbin/policy-rc.d";
  const createdPolicy = !existsSync(policy);
  if (createdPolicy)
    execFileSync("sh", ["-c", `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod 755 ${policy}`]);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync("apt-get", ["update", "-q"], { stdio: "ignore", env });
    execFileSync(
      "apt-get",
      ["install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", "nginx"],
      { stdio: "ignore", env },
    );
  } finally {
    if (createdPolicy) execFileSync("rm", ["-f", policy]);
  }
  const installed = findExecutable("nginx");
  if (!installed) throw new Error("apt-get install nginx did not provide an nginx binary");
  return installed;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A file of incompressible bytes, written in 64 MiB slices of one random buffer. */
async function writeLargeFile(path: string, size: number): Promise<void> {
  const slice = randomBytes(64 * 1024 * 1024);
  const handle = await open(path, "w", 0o644);
  try {
    for (let written = 0; written < size; ) {
      const length = Math.min(slice.length, size - written);
      await handle.write(slice, 0, length);
      written += length;
    }
  } finally {
    await handle.close();
  }
}

async function waitForHttp(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = get(url, { method: "HEAD" } as object, (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) < 500);
      });
      req.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`no answer from ${url}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startNginx(
  binary: string,
  workDir: string,
  dataDir: string,
  port: number,
): Promise<ChildProcess> {
  const prefix = join(workDir, "nginx");
  await mkdir(join(prefix, "tmp"), { recursive: true });
  // One worker, like the layer server's one event loop; sendfile as nginx ships it.
  const config = `
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
daemon off;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${prefix}/tmp;
  proxy_temp_path ${prefix}/tmp;
  fastcgi_temp_path ${prefix}/tmp;
  uwsgi_temp_path ${prefix}/tmp;
  scgi_temp_path ${prefix}/tmp;
  types { }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${dataDir};
  }
}
`;
  await writeFile(join(prefix, "nginx.conf"), config);
  const child = spawn(binary, ["-p", prefix, "-c", join(prefix, "nginx.conf")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  return child;
}

/** The layer server in a process of its own, printing the blob's URL on stdout. */
function startLayerServerProcess(
  digest: string,
  path: string,
): Promise<{ child: ChildProcess; url: string }> {
  const built = join(root, "dist", "serve", "layer-server.js");
  const modulePath = existsSync(built) ? built : join(root, "src", "serve", "layer-server.ts");
  const script = `
    const { startLayerServer } = await import(${JSON.stringify(pathToFileURL(modulePath).href)});
    const [digest, path, size] = process.argv.slice(1);
    const server = await startLayerServer({ clairUrl: "http://127.0.0.1:6060", blobs: [{ digest, path, size: Number(size) }] });
    console.log(server.urlFor(digest));
    process.on("SIGTERM", () => { void server.close(); });
  `;
  const loader = modulePath.endsWith(".ts") ? ["--import", "tsx"] : [];
  const child = spawn(
    process.execPath,
    [...loader, "--input-type=module", "-e", script, digest, path, String(fileBytes)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) resolve({ child, url: line.trim() });
    });
    child.on("exit", (code) => reject(new Error(`layer server process exited with ${code}`)));
    child.on("error", reject);
  });
}

/** One download, bytes discarded; returns MB/s (10^6 bytes per second). */
function download(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = get(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`${url}: HTTP ${res.statusCode}`));
        return;
      }
      let bytes = 0;
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on("end", () => {
        if (bytes !== fileBytes) reject(new Error(`${url}: ${bytes} of ${fileBytes} bytes`));
        else resolve(bytes / 1e6 / ((performance.now() - started) / 1000));
      });
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function runBenchmark(): Promise<number> {
  const nginxBinary = ensureNginx();
  const workDir = await mkdtemp(join(tmpdir(), "hc-bench-serve-"));
  const dataDir = join(workDir, "data");
  let nginx: ChildProcess | undefined;
  let layerServer: ChildProcess | undefined;
  try {
    // nginx's worker drops root privileges: the private temp dir must be readable by it.
    await chmod(workDir, 0o755);
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    const name = "blob";
    const path = join(dataDir, name);
    log(`writing a ${(fileBytes / gib).toFixed(2)} GiB file`);
    await writeLargeFile(path, fileBytes);
    // The digest only names the blob in the URL; the layer server does not hash what it serves.
    const digest = `sha256:${"0".repeat(64)}`;

    const port = await freePort();
    nginx = await startNginx(nginxBinary, workDir, dataDir, port);
    // If this process dies early (a closed stdout pipe, Ctrl-C), its children must not outlive it.
    const children = [nginx];
    // SIGTERM, not SIGKILL: nginx's master stops its worker only when it gets to shut down itself.
    process.once("exit", () => {
      for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
      rmSync(workDir, { recursive: true, force: true });
    });
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => process.exit(130));
    }
    const nginxUrl = `http://127.0.0.1:${port}/${name}`;
    await waitForHttp(nginxUrl);
    const started = await startLayerServerProcess(digest, path);
    layerServer = started.child;
    children.push(layerServer);

    // Warm the page cache so both read from memory, then alternate rounds so drift hits both alike.
    await download(nginxUrl);
    await download(started.url);
    const nginxRates: number[] = [];
    const serverRates: number[] = [];
    for (let round = 0; round < rounds; round++) {
      nginxRates.push(await download(nginxUrl));
      serverRates.push(await download(started.url));
      log(
        `round ${round + 1}: nginx ${nginxRates.at(-1)!.toFixed(0)} MB/s, layer server ${serverRates.at(-1)!.toFixed(0)} MB/s`,
      );
    }
    const nginxMedian = median(nginxRates);
    const serverMedian = median(serverRates);
    const ratio = serverMedian / nginxMedian;
    // nginx prints its version on stderr.
    const version = spawnSync(nginxBinary, ["-v"], { encoding: "utf8" })
      .stderr.trim()
      .replace(/^nginx version: /, "");
    console.log(`file: ${(fileBytes / gib).toFixed(2)} GiB on loopback, ${rounds} rounds each, medians`);
    console.log(`nginx (${version || "nginx"}, sendfile): ${nginxMedian.toFixed(0)} MB/s`);
    console.log(`layer server: ${serverMedian.toFixed(0)} MB/s`);
    console.log(`throughput ratio (layer server / nginx): ${ratio.toFixed(2)} (target >= ${ratioTarget})`);
    const ok = ratio >= ratioTarget;
    console.log(ok ? "layer server: within target" : "layer server: OUTSIDE target");
    return ok ? 0 : 1;
  } finally {
    await stop(layerServer);
    await stop(nginx);
    await rm(workDir, { recursive: true, force: true });
  }
}

runBenchmark().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`[layer-server] ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
