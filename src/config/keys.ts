/**
 * The one table of configuration keys. Validation, environment names, defaults, the starter file,
 * redaction and the `config` listing all derive from it: adding a key here (and to `types.ts`) is all
 * it takes to make it configurable from a file, the environment and `describeConfig`.
 */

/** How a key's value is parsed and checked. */
export type KeyType =
  | { kind: "string" }
  /**
   * A file or directory. `~/` is expanded. Paths naming an input file are resolved against the
   * directory of the config file that sets them, so `~/.hyperclair.yml` can say `tls.ca: certs/ca.pem`.
   */
  | { kind: "path"; relativeTo: "config-file" | "cwd" }
  /** An http(s) URL, or "" (unset); the trailing slash is removed. */
  | { kind: "url" }
  /** Case-insensitive, stored lower-cased. */
  | { kind: "enum"; values: readonly string[]; allowEmpty: boolean }
  /** `500ms`, `90s`, `10m`, `1h`, `1h30m`, or a plain number of seconds; stored in milliseconds. */
  | { kind: "duration" }
  /** 0–65535. */
  | { kind: "port" }
  | { kind: "boolean" }
  /** A list of strings; from the environment, comma-separated. */
  | { kind: "list"; values?: readonly string[] }
  /** Header name → value; from the environment, a JSON object or `Name=value` lines / comma pairs. */
  | { kind: "map" }
  /** `os/arch[/variant]`, as in the OCI image index `platform` object. */
  | { kind: "platform" }
  /** `host`, `host:port`, `[v6]:port` or `:port`. */
  | { kind: "host-port" };

/** A value a key can hold once parsed. */
export type KeyValue = string | number | boolean | string[] | Record<string, string>;

export interface KeySpec {
  /** Dotted path into `Config`, e.g. `clair.psk.keyFile`. */
  key: string;
  type: KeyType;
  default: KeyValue;
  /** Shown as `[redacted]` by `describeConfig`; for maps, every value is secret. */
  secret: boolean;
  /** One line, shown in the starter file. */
  doc: string;
  /** The command-line flag for this key, when it is not `--<kebab of the dotted path>`. */
  flag?: string;
}

/** Severity names Clair normalises to (v4 `NormalizedSeverity`), lower-cased. */
export const SEVERITIES = ["unknown", "negligible", "low", "medium", "high", "critical"] as const;

/** The report renderers (DESIGN.md "Reports"); `report.formats` may only name these. */
export const REPORT_FORMATS = ["html", "json", "sarif", "junit", "markdown", "table"] as const;

const MINUTE = 60_000;

export const CONFIG_KEYS: readonly KeySpec[] = [
  {
    key: "clair.url",
    type: { kind: "url" },
    default: "http://localhost:6060",
    secret: false,
    doc: "Clair's API: the combined v4 endpoint, or the v1 API base.",
  },
  {
    key: "clair.api",
    type: { kind: "enum", values: ["auto", "v1", "v4"], allowEmpty: false },
    default: "auto",
    secret: false,
    doc: "Which Clair API to speak: auto (detect), v1 or v4.",
  },
  {
    key: "clair.indexer",
    type: { kind: "url" },
    default: "",
    secret: false,
    doc: 'v4 split deployment: the indexer\'s base URL ("" = clair.url).',
  },
  {
    key: "clair.matcher",
    type: { kind: "url" },
    default: "",
    secret: false,
    doc: 'v4 split deployment: the matcher\'s base URL ("" = clair.url).',
  },
  {
    key: "clair.timeout",
    type: { kind: "duration" },
    default: 10 * MINUTE,
    secret: false,
    doc: "Request timeout (500ms, 90s, 10m, 1h; a plain number is seconds). Indexing can be slow.",
  },
  {
    key: "clair.reportWait",
    type: { kind: "duration" },
    default: 2 * MINUTE,
    secret: false,
    doc: "How long to wait for a v4 matcher that is not ready yet (HTTP 202) before reporting without it.",
  },
  {
    key: "clair.health.url",
    type: { kind: "url" },
    default: "",
    secret: false,
    doc: 'Base URL of the health/introspection server ("" = clair.url\'s host with clair.health.port).',
  },
  {
    key: "clair.health.port",
    type: { kind: "port" },
    default: 0,
    secret: false,
    doc: "Health port; 0 = the API's default (6061 for v1, 8089 for v4).",
  },
  {
    key: "clair.psk.key",
    type: { kind: "string" },
    default: "",
    secret: true,
    doc: "v4 pre-shared key, base64, as in Clair's auth.psk.key (signs an HS256 JWT). Secret.",
  },
  {
    key: "clair.psk.keyFile",
    type: { kind: "path", relativeTo: "config-file" },
    default: "",
    secret: false,
    doc: "A file holding that base64 key, instead of clair.psk.key.",
  },
  {
    key: "clair.psk.issuer",
    type: { kind: "string" },
    default: "hyperclair",
    secret: false,
    doc: "JWT issuer; must be one of Clair's auth.psk.iss.",
  },
  {
    key: "clair.headers",
    type: { kind: "map" },
    default: {},
    secret: true,
    doc: "Extra headers on every Clair request (values are treated as secrets).",
  },
  {
    key: "clair.tls.ca",
    type: { kind: "path", relativeTo: "config-file" },
    default: "",
    secret: false,
    doc: "PEM file with extra CA certificates to trust for Clair.",
  },
  {
    key: "clair.tls.insecureSkipVerify",
    type: { kind: "boolean" },
    default: false,
    secret: false,
    doc: "Do not verify Clair's TLS certificate (testing only).",
  },
  {
    key: "registry.insecure",
    type: { kind: "list" },
    default: [],
    secret: false,
    doc: "Registries (host or host:port) spoken to over plain HTTP; loopback always is.",
  },
  {
    key: "registry.authFile",
    type: { kind: "path", relativeTo: "config-file" },
    default: "",
    secret: false,
    doc: "Registry credentials file (\"\" = hyperclair's own, then docker's config.json, then podman's auth.json).",
  },
  {
    key: "registry.platform",
    type: { kind: "platform" },
    default: "linux/amd64",
    secret: false,
    doc: "Platform picked from multi-platform images: os/arch[/variant].",
  },
  {
    key: "registry.tls.ca",
    type: { kind: "path", relativeTo: "config-file" },
    default: "",
    secret: false,
    doc: "PEM file with extra CA certificates to trust for registries.",
  },
  {
    key: "registry.tls.insecureSkipVerify",
    type: { kind: "boolean" },
    default: false,
    secret: false,
    doc: "Do not verify registries' TLS certificates (testing only).",
  },
  {
    key: "docker.host",
    type: { kind: "string" },
    default: "",
    secret: false,
    doc: 'Docker daemon address, e.g. unix:///var/run/docker.sock ("" = DOCKER_HOST, then the local socket).',
  },
  {
    key: "serve.listen",
    type: { kind: "host-port" },
    default: "",
    secret: false,
    doc: 'Layer server address host[:port] or :port ("" = the local address that routes toward Clair, random port).',
  },
  {
    key: "serve.advertise",
    type: { kind: "url" },
    default: "",
    secret: false,
    doc: 'URL Clair uses to reach the layer server, for NAT or containers ("" = the listen address).',
  },
  {
    key: "serve.tempDir",
    type: { kind: "path", relativeTo: "cwd" },
    default: "",
    secret: false,
    doc: 'Scratch directory for exported images ("" = the system temp directory).',
  },
  {
    key: "cache.dir",
    type: { kind: "path", relativeTo: "cwd" },
    default: "",
    secret: false,
    doc: 'Layer cache ("" = $XDG_CACHE_HOME/hyperclair or ~/.cache/hyperclair).',
  },
  {
    key: "report.dir",
    type: { kind: "path", relativeTo: "cwd" },
    default: "reports",
    secret: false,
    doc: "Directory report files are written to.",
    flag: "--output-dir",
  },
  {
    key: "report.formats",
    type: { kind: "list", values: REPORT_FORMATS },
    default: ["html"],
    secret: false,
    doc: `Report formats: ${REPORT_FORMATS.join(", ")}.`,
    flag: "--format",
  },
  {
    key: "policy.failOn",
    type: { kind: "enum", values: SEVERITIES, allowEmpty: true },
    default: "",
    secret: false,
    doc: `Exit 1 when a finding is at or above this severity (${SEVERITIES.join(", ")}; "" = never).`,
    flag: "--fail-on",
  },
  {
    key: "policy.ignoreUnfixed",
    type: { kind: "boolean" },
    default: false,
    secret: false,
    doc: "Leave findings without a fixed version out of the policy decision.",
    flag: "--ignore-unfixed",
  },
  {
    key: "policy.ignoreFile",
    type: { kind: "path", relativeTo: "cwd" },
    default: ".hyperclair-ignore.yml",
    secret: false,
    doc: "File of accepted findings (suppression rules).",
    flag: "--ignore-file",
  },
];

const KEYS_BY_PATH = new Map(CONFIG_KEYS.map((spec) => [spec.key, spec]));

export function findKeySpec(key: string): KeySpec | undefined {
  return KEYS_BY_PATH.get(key);
}

/** Every dotted prefix that names a section (`clair`, `clair.psk`, …). */
export const CONFIG_SECTIONS: ReadonlySet<string> = new Set(
  CONFIG_KEYS.flatMap((spec) => {
    const parts = spec.key.split(".");
    return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("."));
  }),
);

function splitCamel(segment: string): string[] {
  return segment.split(/(?=[A-Z])/).map((word) => word.toLowerCase());
}

/** `clair.psk.keyFile` → `HYPERCLAIR_CLAIR_PSK_KEY_FILE`. */
export function envNameFor(key: string): string {
  const words = key.split(".").flatMap(splitCamel);
  return ["HYPERCLAIR", ...words].join("_").toUpperCase();
}

/** The flag that sets a key: the table's `flag`, else `--<kebab of the dotted path>` (`--clair-url`). */
export function flagNameFor(key: string): string {
  const spec = findKeySpec(key);
  if (spec?.flag !== undefined) return spec.flag;
  return `--${key.split(".").flatMap(splitCamel).join("-")}`;
}
