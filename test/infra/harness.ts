import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildTestImages, writePermissivePolicy } from "../images/build.ts";
import { loadTestImages, type PushTarget, pushTestImages, saveFromDaemon } from "../images/publish.ts";
import { type HarnessEnv, harnessVariables, type ImagesManifest } from "./env.ts";
import { type ManagedProcess, runCommand, stopProcess } from "./processes.ts";
import {
  createTokenKeyPair,
  type RunningDaemon,
  type RunningRegistry,
  registryUser,
  startDockerd,
  startPodman,
  startRegistry,
  withoutDockerHost,
} from "./services.ts";
import { startTokenServer, type TokenServer } from "./token-server.ts";

export type ServiceName = "registry" | "registryBasic" | "registryToken" | "docker" | "podman";
export const allServices: readonly ServiceName[] = [
  "registry",
  "registryBasic",
  "registryToken",
  "docker",
  "podman",
];

export interface HarnessOptions {
  /** Which services to start (default: all). The token server comes with `registryToken`. */
  services?: readonly ServiceName[];
  /** Build the test images and push/load them into the started services (default true). */
  images?: boolean;
  /** Default token lifetime of the token server, in seconds (default 300, or HC_TOKEN_TTL). */
  tokenTtlSeconds?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Where the state dir is made (default /tmp; keep it short, unix socket paths are limited to 108 bytes). */
  stateRoot?: string;
}

export interface HarnessTimings {
  servicesMs: number;
  imagesMs: number;
  buildMs: number;
  publishMs: number;
}

export interface Harness {
  stateDir: string;
  /** The HC_* variables for the services that were started (see test/infra/env.ts). */
  env: Record<string, string>;
  registry?: string;
  registryBasic?: string;
  registryToken?: string;
  tokenServer?: TokenServer;
  dockerHost?: string;
  podmanHost?: string;
  images?: ImagesManifest;
  timings: HarnessTimings;
  /** Every service process, by PID. */
  processes: ManagedProcess[];
  /** Stops every process by PID, unmounts leftovers under the state dir, removes it. Idempotent. */
  stop(): Promise<void>;
}

const tokenService = "hyperclair-test-registry";
const tokenIssuer = "hyperclair-test-issuer";

/** Unmounts whatever a daemon left mounted under `dir` (deepest first), so the directory can go. */
async function unmountUnder(dir: string): Promise<string[]> {
  const mounts = await readFile("/proc/mounts", "utf8").catch(() => "");
  const prefix = `${dir}/`;
  const targets = mounts
    .split("\n")
    .map((line) => line.split(" ")[1]?.replace(/\\040/g, " "))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(prefix)))
    .sort((a, b) => b.length - a.length);
  const failed: string[] = [];
  for (const target of targets) {
    const result = await runCommand("umount", [target], { allowFailure: true });
    if (result.code !== 0) {
      const lazy = await runCommand("umount", ["-l", target], { allowFailure: true });
      if (lazy.code !== 0) failed.push(`${target}: ${lazy.stderr.trim()}`);
    }
  }
  return failed;
}

const ownerFile = "harness.json";

/**
 * Records who owns the state dir and which PIDs it started, so services orphaned by a harness that was
 * killed outright (SIGKILL leaves no chance to clean up) can be found and stopped later by `reap`.
 */
function writeOwnerRecord(stateDir: string, processes: ManagedProcess[]): void {
  const record = { ownerPid: process.pid, services: processes.map((p) => ({ name: p.name, pid: p.pid })) };
  writeFileSync(join(stateDir, ownerFile), JSON.stringify(record));
}

function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopPid(pid: number, graceMs = 15_000): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isPidAlive(pid)) await new Promise((r) => setTimeout(r, 100));
  if (isPidAlive(pid)) process.kill(pid, "SIGKILL");
}

/**
 * Cleans up after harness runs whose owning process is gone: stops the services they recorded (only
 * PIDs whose command line still names that state dir, so a reused PID is never hit), unmounts, removes
 * the dir. Returns the dirs it removed.
 */
export async function reapStaleHarnesses(root = "/tmp"): Promise<string[]> {
  const reaped: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!/^hc-[A-Za-z0-9]{6}$/.test(name)) continue;
    const dir = join(root, name);
    let record: { ownerPid: number; services: Array<{ name: string; pid: number }> };
    try {
      record = JSON.parse(await readFile(join(dir, ownerFile), "utf8"));
    } catch {
      continue;
    }
    if (isPidAlive(record.ownerPid)) continue;
    for (const service of record.services) {
      const cmdline = await readFile(`/proc/${service.pid}/cmdline`, "utf8").catch(() => "");
      if (cmdline.includes(dir)) await stopPid(service.pid);
    }
    const failed = await unmountUnder(dir);
    if (failed.length > 0) continue;
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    reaped.push(dir);
  }
  return reaped;
}

/** A harness in the making: knows what it started so far, so it can be stopped at any moment. */
class HarnessRun implements Harness {
  stateDir = "";
  env: Record<string, string> = {};
  registry?: string;
  registryBasic?: string;
  registryToken?: string;
  tokenServer?: TokenServer;
  dockerHost?: string;
  podmanHost?: string;
  images?: ImagesManifest;
  timings: HarnessTimings = { servicesMs: 0, imagesMs: 0, buildMs: 0, publishMs: 0 };
  processes: ManagedProcess[] = [];
  private stopping: Promise<void> | undefined;
  private aborted = false;
  private readonly log: (line: string) => void;

  constructor(private readonly options: HarnessOptions) {
    this.log = options.log ?? (() => undefined);
  }

  private track<T extends { process: ManagedProcess }>(service: T): T {
    this.processes.push(service.process);
    writeOwnerRecord(this.stateDir, this.processes);
    // Stopped while this service was starting: stop it right away.
    if (this.stopping !== undefined) void stopProcess(service.process);
    return service;
  }

  /** Makes a start in progress give up at its next step (a signal arrived during setup). */
  abort(): void {
    this.aborted = true;
  }

  private checkAborted(): void {
    if (this.aborted) throw new Error("interrupted during setup");
  }

  async start(): Promise<void> {
    // Short and under /tmp: unix socket paths may not exceed 108 bytes.
    this.stateDir = await mkdtemp(join(this.options.stateRoot ?? "/tmp", "hc-"));
    writeOwnerRecord(this.stateDir, []);
    this.env[harnessVariables.stateDir] = this.stateDir;
    const wanted = new Set(this.options.services ?? allServices);
    const started = Date.now();
    const imagesDir = join(this.stateDir, "images");
    const policyFile = await writePermissivePolicy(join(this.stateDir, "policy.json"));

    // The image build is offline, so it runs while the services start.
    const build =
      this.options.images === false
        ? Promise.resolve(undefined)
        : buildTestImages(imagesDir, { policyFile }).then((m) => {
            this.timings.buildMs = Date.now() - started;
            return m;
          });
    build.catch(() => undefined);

    const registryDir = (name: string) => join(this.stateDir, name);
    const starts: Array<Promise<void>> = [];
    if (wanted.has("registry")) {
      starts.push(
        startRegistry(registryDir("registry"), "registry (plain)", { kind: "none" }).then((r) => {
          this.registry = this.track(r).address;
        }),
      );
    }
    if (wanted.has("registryBasic")) {
      starts.push(
        startRegistry(registryDir("registry-basic"), "registry (basic auth)", { kind: "basic" }).then((r) => {
          this.registryBasic = this.track(r).address;
        }),
      );
    }
    if (wanted.has("registryToken")) {
      starts.push(
        (async () => {
          const dir = registryDir("registry-token");
          const keys = await createTokenKeyPair(dir);
          const ttl = this.options.tokenTtlSeconds ?? (Number(process.env["HC_TOKEN_TTL"]) || 300);
          const tokenServer = await startTokenServer({
            keyFile: keys.keyFile,
            service: tokenService,
            issuer: tokenIssuer,
            ttlSeconds: ttl,
          });
          this.tokenServer = tokenServer;
          const r: RunningRegistry = await startRegistry(dir, "registry (token auth)", {
            kind: "token",
            realm: tokenServer.realm,
            service: tokenService,
            issuer: tokenIssuer,
            certFile: keys.certFile,
          });
          this.registryToken = this.track(r).address;
        })(),
      );
    }
    if (wanted.has("docker")) {
      starts.push(
        startDockerd(join(this.stateDir, "docker")).then((d: RunningDaemon) => {
          this.dockerHost = this.track(d).host;
          this.log(`dockerd ready (${d.storageDriver}) at ${d.host}`);
        }),
      );
    }
    // podman needs the registry ports for its registries.conf, so it starts after them.
    const registriesReady = Promise.allSettled(starts);
    const podmanStart = wanted.has("podman")
      ? registriesReady.then(async () => {
          if (this.stopping !== undefined || this.aborted) return;
          // The plain registry first: it becomes the unqualified-search registry for short names.
          const insecureRegistries = [this.registry, this.registryBasic, this.registryToken].filter(
            (r): r is string => r !== undefined,
          );
          const p = await startPodman(join(this.stateDir, "podman"), { insecureRegistries });
          this.podmanHost = this.track(p).host;
        })
      : Promise.resolve();
    await Promise.all([...starts, podmanStart]);
    this.checkAborted();
    this.timings.servicesMs = Date.now() - started;
    this.log(`services ready in ${(this.timings.servicesMs / 1000).toFixed(2)} s`);

    const manifest = await build;
    this.checkAborted();
    if (manifest !== undefined) {
      const publishStarted = Date.now();
      const targets: PushTarget[] = [];
      if (this.registry !== undefined) targets.push({ address: this.registry });
      if (this.registryBasic !== undefined)
        targets.push({ address: this.registryBasic, credentials: registryUser });
      if (this.registryToken !== undefined) {
        targets.push({ address: this.registryToken, credentials: registryUser, withPublic: true });
      }
      const loads: Array<Promise<unknown>> = [pushTestImages(manifest, targets, policyFile)];
      const dockerHost = this.dockerHost;
      if (dockerHost !== undefined) loads.push(loadTestImages(manifest, dockerHost));
      if (this.podmanHost !== undefined) loads.push(loadTestImages(manifest, this.podmanHost));
      await Promise.all(loads);
      if (dockerHost !== undefined) await saveFromDaemon(manifest, dockerHost);
      this.images = manifest;
      this.timings.publishMs = Date.now() - publishStarted;
      this.timings.imagesMs = Date.now() - started - this.timings.servicesMs;
      this.env[harnessVariables.imagesDir] = imagesDir;
    }

    const set = (name: string, value: string | undefined) => {
      if (value !== undefined) this.env[name] = value;
    };
    set(harnessVariables.registry, this.registry);
    set(harnessVariables.registryBasic, this.registryBasic);
    set(harnessVariables.registryToken, this.registryToken);
    set(harnessVariables.tokenRealm, this.tokenServer?.realm);
    set("HC_TOKEN_SERVICE", this.tokenServer === undefined ? undefined : tokenService);
    set(harnessVariables.dockerHost, this.dockerHost);
    set(harnessVariables.podmanHost, this.podmanHost);
    if (this.podmanHost !== undefined) set("HC_PODMAN_CONF_DIR", join(this.stateDir, "podman"));
    set(harnessVariables.user, registryUser.user);
    set(harnessVariables.pass, registryUser.pass);
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    // Let a start in flight register what it launched before stopping (bounded by the start timeouts).
    await Promise.allSettled(this.processes.map((p) => stopProcess(p)));
    await this.tokenServer?.close();
    if (this.stateDir === "") return;
    const failedUnmounts = await unmountUnder(this.stateDir);
    if (failedUnmounts.length > 0) {
      throw new Error(`could not unmount under ${this.stateDir}:\n${failedUnmounts.join("\n")}`);
    }
    await rm(this.stateDir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Starts the services (and test images) for a test run, a benchmark or the demo. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const run = new HarnessRun(options);
  try {
    await run.start();
  } catch (err) {
    await run.stop().catch(() => undefined);
    throw err;
  }
  return run;
}

/** The environment contract as a typed value, for code that holds a Harness rather than env vars. */
export function describeHarness(harness: Harness): Partial<HarnessEnv> {
  const { env } = harness;
  const v = harnessVariables;
  const out: Partial<HarnessEnv> = {};
  const entries: Array<[keyof typeof v, string | undefined]> = Object.entries(v).map(([key, name]) => [
    key as keyof typeof v,
    env[name],
  ]);
  for (const [key, value] of entries) if (value !== undefined) out[key] = value;
  if (harness.images !== undefined) out.images = harness.images;
  return out;
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function formatSetupLine(run: Harness, extra: string): string {
  const parts = [
    extra,
    `start ${formatSeconds(run.timings.servicesMs)}`,
    `images ${formatSeconds(run.timings.imagesMs)} (build ${formatSeconds(run.timings.buildMs)}, push+load ${formatSeconds(run.timings.publishMs)})`,
  ].filter((p) => p !== "");
  return `[harness] setup: ${parts.join(" · ")}`;
}

/** `harness.ts run -- CMD ARGS…`: start everything, run CMD with the HC_* variables, stop everything. */
async function runCli(argv: string[]): Promise<number> {
  if (argv[0] === "reap") {
    const reaped = await reapStaleHarnesses();
    process.stderr.write(
      reaped.length === 0 ? "[harness] nothing to reap\n" : `[harness] removed ${reaped.join(", ")}\n`,
    );
    return 0;
  }
  const separator = argv.indexOf("--");
  const command = separator < 0 ? [] : argv.slice(separator + 1);
  if (argv[0] !== "run" || command.length === 0) {
    process.stderr.write("usage: harness.ts run -- COMMAND [ARGS...]\n       harness.ts reap\n");
    return 2;
  }
  const log = (line: string) => process.stderr.write(`[harness] ${line}\n`);
  const run = new HarnessRun({ log });
  let child: ReturnType<typeof spawn> | undefined;
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled !== undefined) return;
    signalled = signal;
    log(`${signal}: stopping the tests and the services`);
    if (child?.pid !== undefined && child.exitCode === null) child.kill(signal);
    if (child === undefined) run.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A bug in the harness itself must not leave the services running either.
  const onCrash = (err: unknown) => {
    log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (child?.pid !== undefined && child.exitCode === null) child.kill("SIGTERM");
    void run.stop().finally(() => process.exit(1));
  };
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);

  const installInfo = process.env["HC_SETUP_TIMES"] ?? "";
  let exitCode = 1;
  try {
    await run.start();
    if (signalled === undefined) {
      log(formatSetupLine(run, installInfo).replace("[harness] ", ""));
      const env = { ...withoutDockerHost(process.env), ...run.env };
      const [bin, ...args] = command as [string, ...string[]];
      const spawned = spawn(bin, args, { stdio: "inherit", env });
      child = spawned;
      exitCode = await new Promise<number>((resolve) => {
        const timer = { handle: undefined as NodeJS.Timeout | undefined };
        spawned.on("exit", (code, signal) => {
          if (timer.handle !== undefined) clearTimeout(timer.handle);
          resolve(code ?? (signal === "SIGINT" ? 130 : 143));
        });
        spawned.on("error", (err) => {
          log(`could not run ${bin}: ${err.message}`);
          resolve(127);
        });
      });
    }
  } catch (err) {
    log(`setup failed: ${err instanceof Error ? err.message : String(err)}`);
    exitCode = 1;
  }
  const stopStarted = Date.now();
  try {
    await run.stop();
  } catch (err) {
    log(`teardown failed: ${err instanceof Error ? err.message : String(err)}`);
    if (exitCode === 0) exitCode = 1;
  }
  log(
    `${formatSetupLine(run, installInfo).replace("[harness] ", "")} · stop ${formatSeconds(Date.now() - stopStarted)}`,
  );
  if (signalled !== undefined) return signalled === "SIGINT" ? 130 : 143;
  return exitCode;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
