/**
 * The effective configuration: defaults < config file < HYPERCLAIR_* environment < flags.
 * Plain data, read once by the CLI and passed down; nothing below `src/cli/` reads files or env for it.
 */
export interface Config {
  clair: ClairConfig;
  registry: RegistryConfig;
  docker: DockerConfig;
  serve: ServeConfig;
  cache: CacheConfig;
  report: ReportConfig;
  policy: PolicyConfig;
}

export type ClairApiSetting = "auto" | "v1" | "v4";

export interface ClairConfig {
  /** Combined v4 endpoint, or the v1 API base. */
  url: string;
  api: ClairApiSetting;
  /** v4 split deployment: indexer and matcher base URLs ("" = use `url`). */
  indexer: string;
  matcher: string;
  /** Request timeout in milliseconds; index requests are never cut shorter than this. */
  timeout: number;
  /** Milliseconds to wait while a v4 matcher answers 202 (not ready) before giving up with a warning. */
  reportWait: number;
  health: {
    /** Full base URL of the health / introspection server ("" = derive from `url` and `port`). */
    url: string;
    /** 0 = the API's default: 6061 for v1 (`/health`), 8089 for v4 (`/healthz`, `/readyz`). */
    port: number;
  };
  psk: {
    /** Base64 of the HMAC key, as in Clair's `auth.psk.key`. Secret. */
    key: string;
    /** A file holding that base64 key. */
    keyFile: string;
    issuer: string;
  };
  /** Extra headers sent on every Clair request. Values are treated as secrets in output. */
  headers: Record<string, string>;
  tls: TlsConfig;
}

export interface TlsConfig {
  /** PEM file with extra CA certificates to trust. */
  ca: string;
  insecureSkipVerify: boolean;
}

export interface RegistryConfig {
  /** Hosts (host or host:port) spoken to over plain HTTP. Loopback is always allowed. */
  insecure: string[];
  /** "" = hyperclair's own auth file, then docker's config.json, then podman's auth.json. */
  authFile: string;
  /** Default platform for indexes and manifest lists: os/arch[/variant]. */
  platform: string;
  tls: TlsConfig;
}

export interface DockerConfig {
  /** "" = DOCKER_HOST, then the local socket. */
  host: string;
}

export interface ServeConfig {
  /** host[:port] the layer server listens on ("" = the local address that routes toward Clair, random port). */
  listen: string;
  /** The base URL Clair should use to reach the layer server ("" = the listen address). */
  advertise: string;
  tempDir: string;
}

export interface CacheConfig {
  /** Content-addressed layer cache ("" = $XDG_CACHE_HOME/hyperclair or ~/.cache/hyperclair). */
  dir: string;
}

export interface ReportConfig {
  dir: string;
  formats: string[];
}

export interface PolicyConfig {
  /** "" = no threshold; else a severity name. */
  failOn: string;
  ignoreUnfixed: boolean;
  ignoreFile: string;
}

/** Where one effective value came from. */
export type ValueSource =
  | { kind: "default" }
  | { kind: "file"; file: string; line: number }
  | { kind: "env"; name: string }
  | { kind: "flag"; name: string };

/** A problem with one configuration value, located as precisely as we can. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `clair.timeout`. */
  key: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
}

export interface LoadedConfig {
  config: Config;
  /** Keyed by dotted path of every leaf key (maps such as `clair.headers` are one entry). */
  sources: Map<string, ValueSource>;
  /** The file that was read, if any. */
  file: string | undefined;
  warnings: string[];
  errors: ConfigIssue[];
}
