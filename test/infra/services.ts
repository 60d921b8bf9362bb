import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import {
  findFreePort,
  type ManagedProcess,
  readLogTail,
  runCommand,
  startProcess,
  stopProcess,
  waitUntilReady,
} from "./processes.ts";

/** The users of the basic-auth registry (htpasswd) and the token server. */
export const registryUser = { user: "testuser", pass: "testpass" } as const;

export type RegistryAuth =
  | { kind: "none" }
  | { kind: "basic" }
  | { kind: "token"; realm: string; service: string; issuer: string; certFile: string };

export interface RunningRegistry {
  address: string;
  process: ManagedProcess;
}

async function probeHttp(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await response.arrayBuffer();
  return response.status === 200 || response.status === 401;
}

/** GET /_ping on a unix socket: how dockerd and podman say they are ready. */
export function pingSocket(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * Starts the Debian `docker-registry` (distribution 2.8) on a free loopback port. A port taken between
 * choosing and binding shows up as "address already in use" in the log; then another port is tried.
 */
export async function startRegistry(dir: string, name: string, auth: RegistryAuth): Promise<RunningRegistry> {
  await mkdir(join(dir, "data"), { recursive: true });
  let authConfig: Record<string, unknown> | undefined;
  if (auth.kind === "basic") {
    // The registry accepts bcrypt entries only (htpasswd -B).
    const { stdout } = await runCommand("htpasswd", ["-Bbn", registryUser.user, registryUser.pass]);
    await writeFile(join(dir, "htpasswd"), stdout);
    authConfig = { htpasswd: { realm: "basic-realm", path: join(dir, "htpasswd") } };
  } else if (auth.kind === "token") {
    authConfig = {
      token: { realm: auth.realm, service: auth.service, issuer: auth.issuer, rootcertbundle: auth.certFile },
    };
  }
  for (let attempt = 1; ; attempt++) {
    const port = await findFreePort();
    const address = `127.0.0.1:${port}`;
    const config = {
      version: 0.1,
      log: { level: "info", accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: join(dir, "data") }, delete: { enabled: true } },
      http: { addr: address, secret: `hyperclair-test-${name}` },
      ...(authConfig === undefined ? {} : { auth: authConfig }),
    };
    // JSON is YAML, and the registry reads YAML.
    await writeFile(join(dir, "config.yml"), JSON.stringify(config, null, 2));
    const proc = startProcess({
      name,
      command: "docker-registry",
      args: ["serve", join(dir, "config.yml")],
      logFile: join(dir, "registry.log"),
    });
    try {
      await waitUntilReady(proc, () => probeHttp(`http://${address}/v2/`), 15_000);
      return { address, process: proc };
    } catch (err) {
      await stopProcess(proc);
      if (attempt < 3 && readLogTail(proc.logFile, 5).includes("address already in use")) continue;
      throw err;
    }
  }
}

/** Creates the RSA key and self-signed certificate the token server signs with and the registry trusts. */
export async function createTokenKeyPair(dir: string): Promise<{ keyFile: string; certFile: string }> {
  await mkdir(dir, { recursive: true });
  const keyFile = join(dir, "token-key.pem");
  const certFile = join(dir, "token-cert.pem");
  await runCommand("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "30",
    "-subj",
    "/CN=hyperclair-test-token-issuer",
  ]);
  return { keyFile, certFile };
}

export interface RunningDaemon {
  host: string;
  socketPath: string;
  process: ManagedProcess;
  storageDriver: string;
}

/**
 * Starts Debian's dockerd on a private socket with data and exec roots under `dir`. No iptables,
 * no bridge: the tests need images, not container networking. overlay2 first, vfs when the kernel
 * or the backing filesystem refuses overlay.
 */
export async function startDockerd(dir: string): Promise<RunningDaemon> {
  const socketPath = join(dir, "docker.sock");
  await mkdir(dir, { recursive: true });
  // An empty config file, so a host /etc/docker/daemon.json cannot change this daemon.
  await writeFile(join(dir, "daemon.json"), "{}");
  const failures: string[] = [];
  for (const driver of ["overlay2", "vfs"]) {
    const proc = startProcess({
      name: `dockerd (${driver})`,
      command: "dockerd",
      args: [
        "--config-file",
        join(dir, "daemon.json"),
        "--data-root",
        join(dir, "root"),
        "--exec-root",
        join(dir, "exec"),
        "--pidfile",
        join(dir, "dockerd.pid"),
        "-H",
        `unix://${socketPath}`,
        "--storage-driver",
        driver,
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--bridge=none",
      ],
      logFile: join(dir, `dockerd-${driver}.log`),
      env: withoutDockerHost(process.env),
    });
    try {
      await waitUntilReady(proc, () => pingSocket(socketPath), 30_000);
      return { host: `unix://${socketPath}`, socketPath, process: proc, storageDriver: driver };
    } catch (err) {
      await stopProcess(proc);
      failures.push(err instanceof Error ? err.message : String(err));
    }
  }
  throw new Error(`dockerd did not start with overlay2 nor vfs:\n${failures.join("\n")}`);
}

export interface PodmanOptions {
  /** Registries podman may use over plain HTTP (host:port); both 127.0.0.1 and localhost forms are listed. */
  insecureRegistries: string[];
}

/** Environment pointing podman at this run's configuration instead of /etc/containers. */
export function podmanEnvironment(dir: string): Record<string, string> {
  return {
    CONTAINERS_REGISTRIES_CONF: join(dir, "registries.conf"),
    CONTAINERS_CONF: join(dir, "containers.conf"),
    CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"),
  };
}

/** Starts `podman system service`, podman's Docker-compatible API, on a private socket. */
export async function startPodman(dir: string, options: PodmanOptions): Promise<RunningDaemon> {
  await mkdir(dir, { recursive: true });
  const socketPath = join(dir, "podman.sock");
  // The compat /images/create has no TLS switch: plain-HTTP registries must be listed insecure, each
  // host spelling separately (containers-registries.conf(5)).
  const locations = options.insecureRegistries.flatMap((r) => [r, r.replace(/^127\.0\.0\.1:/, "localhost:")]);
  const registries = [
    `unqualified-search-registries = [${locations.slice(0, 1).map((l) => JSON.stringify(l))}]`,
    ...locations.map((l) => `[[registry]]\nlocation = ${JSON.stringify(l)}\ninsecure = true`),
  ].join("\n");
  await writeFile(join(dir, "registries.conf"), `${registries}\n`);
  await writeFile(
    join(dir, "containers.conf"),
    [
      "[engine]",
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${JSON.stringify(join(dir, "events.log"))}`,
      `tmp_dir = ${JSON.stringify(join(dir, "tmp"))}`,
      "[containers]",
      'netns = "none"',
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      "",
    ].join("\n"),
  );
  const storage = (driver: string) =>
    [
      "[storage]",
      `driver = ${JSON.stringify(driver)}`,
      `runroot = ${JSON.stringify(join(dir, `run-${driver}`))}`,
      `graphroot = ${JSON.stringify(join(dir, `root-${driver}`))}`,
      "",
    ].join("\n");
  const failures: string[] = [];
  for (const driver of ["overlay", "vfs"]) {
    await writeFile(join(dir, "storage.conf"), storage(driver));
    const proc = startProcess({
      name: `podman (${driver})`,
      command: "podman",
      args: ["system", "service", "--time=0", `unix://${socketPath}`],
      logFile: join(dir, `podman-${driver}.log`),
      env: { ...withoutDockerHost(process.env), ...podmanEnvironment(dir) },
    });
    try {
      await waitUntilReady(proc, () => pingSocket(socketPath), 30_000);
      return { host: `unix://${socketPath}`, socketPath, process: proc, storageDriver: driver };
    } catch (err) {
      await stopProcess(proc);
      failures.push(err instanceof Error ? err.message : String(err));
    }
  }
  throw new Error(`podman system service did not start:\n${failures.join("\n")}`);
}

export function withoutDockerHost(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy["DOCKER_HOST"];
  return copy;
}
