/**
 * Reaching the Docker (or podman) daemon the way the docker CLI does: `docker.host` from the config,
 * else `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` for tcp), else the local socket,
 * else podman's socket. https://docs.docker.com/engine/reference/commandline/cli/#environment-variables
 */
import { accessSync, constants, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import type { Config } from "../../config/types.ts";
import { ConfigError, DaemonError, EnvironmentError, HyperclairError } from "../../errors.ts";

export type EndpointSource = "config" | "DOCKER_HOST" | "default socket" | "podman socket";

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Where the daemon is, decided before connecting (pure data, so it can be shown by `doctor`). */
export type DaemonEndpoint =
  | { kind: "unix"; socketPath: string; source: EndpointSource; display: string }
  | {
      kind: "tcp";
      host: string;
      port: number;
      /** Present when the connection uses TLS (DOCKER_TLS_VERIFY): client certificate and CA. */
      tls: TlsFiles | undefined;
      source: EndpointSource;
      display: string;
    };

export type Environment = Readonly<Record<string, string | undefined>>;

export interface EndpointOptions {
  config: Pick<Config, "docker">;
  /** Defaults to `process.env`; the daemon's own variables (DOCKER_HOST…) are read from it. */
  env?: Environment | undefined;
  /** Checks whether a socket path exists; injectable for tests of the fallback order. */
  exists?: ((path: string) => boolean) | undefined;
}

export const defaultDockerSocket = "/var/run/docker.sock";

function socketExists(path: string): boolean {
  try {
    accessSync(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Podman's Docker-compatible sockets: rootless first, then rootful (podman-system-service(1)). */
export function podmanSockets(env: Environment): string[] {
  const sockets: string[] = [];
  const runtimeDir = env["XDG_RUNTIME_DIR"];
  if (runtimeDir) sockets.push(join(runtimeDir, "podman", "podman.sock"));
  sockets.push("/run/podman/podman.sock");
  return sockets;
}

const hostHint = "point DOCKER_HOST or docker.host at the daemon, e.g. unix:///var/run/docker.sock";

/** Parses a `docker.host` / `DOCKER_HOST` value: `unix:///path`, `tcp://host:port`, or a bare socket path. */
export function parseDaemonHost(value: string, source: EndpointSource, env: Environment): DaemonEndpoint {
  const what = source === "config" ? "docker.host" : "DOCKER_HOST";
  if (value.startsWith("/")) return { kind: "unix", socketPath: value, source, display: `unix://${value}` };
  if (value.startsWith("unix://")) {
    const socketPath = value.slice("unix://".length);
    if (socketPath === "")
      throw new ConfigError(`${what} ${JSON.stringify(value)} names no socket`, { hint: hostHint });
    return { kind: "unix", socketPath, source, display: value };
  }
  const tcp = value.match(/^(?:tcp|http|https):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/);
  if (tcp) {
    // docker CLI: DOCKER_TLS_VERIFY set to anything non-empty turns TLS on; 2376 is the TLS port.
    const verify = (env["DOCKER_TLS_VERIFY"] ?? "") !== "" && env["DOCKER_TLS_VERIFY"] !== "0";
    const port = tcp[2] === undefined ? (verify ? 2376 : 2375) : Number(tcp[2]);
    const certPath = env["DOCKER_CERT_PATH"] || join(env["HOME"] ?? homedir(), ".docker");
    const tls = verify
      ? { ca: join(certPath, "ca.pem"), cert: join(certPath, "cert.pem"), key: join(certPath, "key.pem") }
      : undefined;
    const host = tcp[1]!.replace(/^\[|\]$/g, "");
    return { kind: "tcp", host, port, tls, source, display: `tcp://${tcp[1]}:${port}` };
  }
  throw new ConfigError(`${what} ${JSON.stringify(value)} is not a daemon address hyperclair can use`, {
    hint: `${hostHint} or tcp://127.0.0.1:2375 (ssh:// and npipe:// are not supported)`,
  });
}

/**
 * The endpoint to use: `docker.host`, else `DOCKER_HOST`, else the first of /var/run/docker.sock and
 * podman's sockets that exists (the docker socket is named when none does, so the error says where we looked).
 */
export function resolveDaemonEndpoint(options: EndpointOptions): DaemonEndpoint {
  const env = options.env ?? process.env;
  const exists = options.exists ?? socketExists;
  if (options.config.docker.host !== "") return parseDaemonHost(options.config.docker.host, "config", env);
  const fromEnv = env["DOCKER_HOST"];
  if (fromEnv !== undefined && fromEnv !== "") return parseDaemonHost(fromEnv, "DOCKER_HOST", env);
  if (exists(defaultDockerSocket)) {
    return {
      kind: "unix",
      socketPath: defaultDockerSocket,
      source: "default socket",
      display: `unix://${defaultDockerSocket}`,
    };
  }
  const podman = podmanSockets(env).find((path) => exists(path));
  if (podman !== undefined) {
    return { kind: "unix", socketPath: podman, source: "podman socket", display: `unix://${podman}` };
  }
  return {
    kind: "unix",
    socketPath: defaultDockerSocket,
    source: "default socket",
    display: `unix://${defaultDockerSocket}`,
  };
}

function readTlsFile(path: string, endpoint: DaemonEndpoint): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new EnvironmentError(`cannot read ${path} for the TLS connection to ${endpoint.display}`, {
      hint: "DOCKER_CERT_PATH must hold ca.pem, cert.pem and key.pem (or unset DOCKER_TLS_VERIFY)",
      cause: err,
    });
  }
}

/**
 * A dockerode client for the endpoint. Every connection option is given explicitly, because docker-modem
 * merges DOCKER_HOST and DOCKER_CERT_PATH from the environment underneath whatever it is passed.
 */
export function connectDaemon(endpoint: DaemonEndpoint): Docker {
  if (endpoint.kind === "unix") {
    return new Docker({
      socketPath: endpoint.socketPath,
      host: undefined,
      port: undefined,
      protocol: undefined,
      ca: undefined,
      cert: undefined,
      key: undefined,
    });
  }
  const tls = endpoint.tls;
  return new Docker({
    socketPath: undefined,
    host: endpoint.host,
    port: endpoint.port,
    protocol: tls === undefined ? "http" : "https",
    ca: tls === undefined ? undefined : readTlsFile(tls.ca, endpoint),
    cert: tls === undefined ? undefined : readTlsFile(tls.cert, endpoint),
    key: tls === undefined ? undefined : readTlsFile(tls.key, endpoint),
  });
}

interface DockerodeError {
  statusCode?: number;
  code?: string;
  reason?: string;
  json?: unknown;
  message?: string;
}

/** The daemon's own message from a dockerode error: `{"message": …}` (docker) or `{"cause", "message"}` (podman). */
export function daemonMessage(err: unknown): string {
  const e = (err ?? {}) as DockerodeError;
  const json = e.json;
  if (
    typeof json === "object" &&
    json !== null &&
    typeof (json as { message?: unknown }).message === "string"
  ) {
    return (json as { message: string }).message.trim();
  }
  if (typeof json === "string" && json.trim() !== "") return json.trim();
  if (Buffer.isBuffer(json)) return json.toString("utf8").trim();
  return (e.message ?? String(err)).replace(/^\(HTTP code \d+\)\s*/, "").trim();
}

export function statusCodeOf(err: unknown): number | undefined {
  const status = (err as DockerodeError | undefined)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

const connectionCodes: Record<string, string> = {
  ENOENT: "socket not found",
  ECONNREFUSED: "connection refused",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ENOTSOCK: "not a socket",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ETIMEDOUT: "connection timed out",
  ENOTFOUND: "host not found",
  EPROTO: "TLS handshake failed",
};

/** Node's certificate verification codes (OpenSSL X509_V_ERR names) and TLS protocol errors. */
const tlsCodePattern = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_MISMATCH)/;

/**
 * Turns a failure talking to the daemon into a DaemonError naming the endpoint, unless it already is
 * one of ours. `action` says what we were doing ("inspecting image x").
 */
export function translateDaemonError(
  err: unknown,
  endpoint: DaemonEndpoint,
  action: string,
): HyperclairError {
  if (err instanceof HyperclairError) return err;
  const code = (err as DockerodeError | undefined)?.code;
  const connection = code === undefined ? undefined : connectionCodes[code];
  const tlsFailure = code !== undefined && tlsCodePattern.test(code);
  if (connection !== undefined || tlsFailure) {
    const why = connection ?? `TLS verification failed (${code})`;
    const where = endpoint.source === "config" ? "docker.host" : endpoint.source;
    const hint = tlsFailure
      ? "the daemon's certificate is not signed by ca.pem in DOCKER_CERT_PATH; check DOCKER_CERT_PATH"
      : code === "EACCES" || code === "EPERM"
        ? "add your user to the docker group, or point DOCKER_HOST or docker.host at a socket you may use"
        : `is the daemon running? ${endpoint.display} came from ${where}; set DOCKER_HOST or docker.host to the daemon's socket`;
    return new DaemonError(`cannot reach the Docker daemon at ${endpoint.display}: ${why}`, {
      hint,
      cause: err,
    });
  }
  const status = statusCodeOf(err);
  const message = daemonMessage(err);
  return new DaemonError(
    `the Docker daemon at ${endpoint.display} failed ${action}${status === undefined ? "" : ` (HTTP ${status})`}: ${message}`,
    { cause: err },
  );
}

export interface DaemonVersion {
  endpoint: DaemonEndpoint;
  /** Engine version, e.g. `20.10.24` (docker) or `4.3.1` (podman). */
  version: string;
  /** API version the daemon speaks, e.g. `1.41`. */
  apiVersion: string;
  minApiVersion: string | undefined;
  os: string | undefined;
  arch: string | undefined;
  /** `Docker Engine - Community`, `Podman Engine`…, from the version's Components. */
  product: string | undefined;
}

/** `GET /version` (Engine API "System"): what `doctor` reports, and the proof that the daemon answers. */
export async function pingDaemon(
  options: EndpointOptions & { endpoint?: DaemonEndpoint | undefined },
): Promise<DaemonVersion> {
  const endpoint = options.endpoint ?? resolveDaemonEndpoint(options);
  try {
    const docker = connectDaemon(endpoint);
    const info = (await docker.version()) as unknown as Record<string, unknown>;
    const components = Array.isArray(info["Components"])
      ? (info["Components"] as Array<{ Name?: string }>)
      : [];
    const platform = info["Platform"] as { Name?: string } | undefined;
    return {
      endpoint,
      version: String(info["Version"] ?? ""),
      apiVersion: String(info["ApiVersion"] ?? ""),
      minApiVersion: typeof info["MinAPIVersion"] === "string" ? info["MinAPIVersion"] : undefined,
      os: typeof info["Os"] === "string" ? info["Os"] : undefined,
      arch: typeof info["Arch"] === "string" ? info["Arch"] : undefined,
      product: platform?.Name || components[0]?.Name || undefined,
    };
  } catch (err) {
    throw translateDaemonError(err, endpoint, "answering /version");
  }
}
