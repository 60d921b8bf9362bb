/**
 * Registry credentials: where they are looked up, in order — hyperclair's own auth file, docker's
 * `config.json` (`credHelpers`, `auths`, `credsStore`; https://docs.docker.com/reference/cli/docker/login/
 * "Credential stores"), podman's `auth.json` (containers-auth.json(5)) — and how hyperclair's own
 * file is written (mode 0600 in a 0700 directory, atomically).
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { EnvironmentError, RegistryError } from "../../errors.ts";
import { writeFileAtomic } from "../../fs/write-file-atomic.ts";

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Credentials as found, with where they came from (named in hints, never with the secret). */
export interface FoundCredentials {
  username: string | undefined;
  password: string | undefined;
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token endpoint. */
  identityToken: string | undefined;
  /** E.g. `hyperclair auth file /home/u/.config/hyperclair/auth.json`, `docker-credential-pass`. */
  source: string;
}

export interface CredentialOptions {
  /** `registry.authFile`: replaces hyperclair's own auth file when set. */
  authFile?: string | undefined;
  env?: Record<string, string | undefined> | undefined;
  debug?: ((line: string) => void) | undefined;
}

type Env = Record<string, string | undefined>;

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface AuthFileDocument {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

const dockerHubKeys = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
/** The server URL docker uses for Docker Hub in config.json and with credential helpers. */
const dockerHubServerUrl = "https://index.docker.io/v1/";

/** `https://index.docker.io/v1/` → `docker.io`; `http://host:5000` → `host:5000`; `host/ns/repo` kept. */
export function normaliseRegistryKey(key: string): string {
  let value = key.trim().replace(/^[a-z]+:\/\//i, "");
  value = value.replace(/\/+$/, "");
  const slash = value.indexOf("/");
  const host = (slash < 0 ? value : value.slice(0, slash)).toLowerCase();
  const path = slash < 0 ? "" : value.slice(slash);
  const normalisedHost = dockerHubKeys.has(host) ? "docker.io" : host;
  // docker's own keys carry an API path (`/v1/`), which is not a repository.
  if (/^\/v[12]$/.test(path)) return normalisedHost;
  return normalisedHost + path;
}

/** The key under which `registry` is looked up and stored: `docker.io` for every Docker Hub alias. */
export function registryKey(registry: string): string {
  return normaliseRegistryKey(registry);
}

export function defaultAuthFile(env: Env = process.env): string {
  const base = env["XDG_CONFIG_HOME"] || join(env["HOME"] || homedir(), ".config");
  return join(base, "hyperclair", "auth.json");
}

function dockerConfigFile(env: Env): string {
  return join(env["DOCKER_CONFIG"] || join(env["HOME"] || homedir(), ".docker"), "config.json");
}

function podmanAuthFiles(env: Env): string[] {
  if (env["REGISTRY_AUTH_FILE"]) return [env["REGISTRY_AUTH_FILE"]];
  const files: string[] = [];
  if (env["XDG_RUNTIME_DIR"]) files.push(join(env["XDG_RUNTIME_DIR"], "containers", "auth.json"));
  files.push(
    join(env["XDG_CONFIG_HOME"] || join(env["HOME"] || homedir(), ".config"), "containers", "auth.json"),
  );
  return files;
}

async function readAuthDocument(path: string): Promise<AuthFileDocument | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new EnvironmentError(`cannot read credentials file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (text.trim() === "") return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new Error("not an object");
    return parsed as AuthFileDocument;
  } catch (error) {
    throw new EnvironmentError(`credentials file ${path} is not valid JSON`, {
      hint: "fix or remove the file",
      cause: error,
    });
  }
}

/** The auths entry for `host/repository`: the longest matching key (podman allows repository-scoped keys). */
function findEntry(
  auths: Record<string, AuthEntry> | undefined,
  host: string,
  repository: string | undefined,
): AuthEntry | undefined {
  if (auths === undefined) return undefined;
  const wanted = repository === undefined ? host : `${host}/${repository}`;
  let best: { length: number; entry: AuthEntry } | undefined;
  for (const [key, entry] of Object.entries(auths)) {
    const normalised = normaliseRegistryKey(key);
    if (wanted === normalised || wanted.startsWith(`${normalised}/`)) {
      if (best === undefined || normalised.length > best.length) best = { length: normalised.length, entry };
    }
  }
  return best?.entry;
}

function decodeEntry(entry: AuthEntry, source: string): FoundCredentials | undefined {
  let username = entry.username;
  let password = entry.password;
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new EnvironmentError(
        `credentials in ${source} are malformed (auth is not base64 of user:password)`,
        {
          hint: "log in again to rewrite them",
        },
      );
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const identityToken = entry.identitytoken || undefined;
  if ((username === undefined || username === "") && identityToken === undefined) return undefined;
  return { username: username || undefined, password, identityToken, source };
}

/**
 * Runs `docker-credential-<helper> get` with the server URL on stdin (docker-credential-helpers
 * protocol: JSON `{ServerURL, Username, Secret}` out; `Username: "<token>"` means an identity token).
 */
async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  env: Env,
  debug: ((line: string) => void) | undefined,
): Promise<FoundCredentials | undefined> {
  const program = `docker-credential-${helper}`;
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }>(
    (resolve) => {
      const child = spawn(program, ["get"], {
        env: env as NodeJS.ProcessEnv,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on("error", (error) => resolve({ code: null, stdout, stderr, error }));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.on("error", () => undefined);
      child.stdin.end(serverUrl);
    },
  );
  if (result.error !== undefined) {
    debug?.(`credential helper ${program} could not run: ${result.error.message}`);
    return undefined;
  }
  const output = `${result.stdout}${result.stderr}`.trim();
  if (result.code !== 0) {
    if (/credentials not found/i.test(output)) return undefined;
    throw new RegistryError(
      `credential helper ${program} failed for ${serverUrl}: ${output.split("\n")[0] ?? ""}`,
      {
        hint: `check that ${program} works: echo ${serverUrl} | ${program} get`,
      },
    );
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(result.stdout) as { Username?: unknown; Secret?: unknown };
  } catch {
    throw new RegistryError(`credential helper ${program} did not print JSON for ${serverUrl}`, {
      hint: `check that ${program} works: echo ${serverUrl} | ${program} get`,
    });
  }
  const username = typeof parsed.Username === "string" ? parsed.Username : "";
  const secret = typeof parsed.Secret === "string" ? parsed.Secret : "";
  if (secret === "") return undefined;
  if (username === "<token>") {
    return { username: undefined, password: undefined, identityToken: secret, source: program };
  }
  return { username, password: secret, identityToken: undefined, source: program };
}

/**
 * Finds stored credentials for `registry` (a reference domain such as `docker.io` or `127.0.0.1:5000`)
 * and optionally a repository (podman's auth.json may scope an entry to one).
 */
export async function findCredentials(
  registry: string,
  repository: string | undefined,
  options: CredentialOptions = {},
): Promise<FoundCredentials | undefined> {
  const env = options.env ?? process.env;
  const host = registryKey(registry);
  const debug = options.debug;

  const ownFile = options.authFile || defaultAuthFile(env);
  const own = await readAuthDocument(ownFile);
  const ownEntry = findEntry(own?.auths, host, repository);
  if (ownEntry !== undefined) {
    const found = decodeEntry(ownEntry, `hyperclair auth file ${ownFile}`);
    if (found !== undefined) return found;
  }

  const dockerFile = dockerConfigFile(env);
  const docker = await readAuthDocument(dockerFile);
  if (docker !== undefined) {
    const serverUrl = host === "docker.io" ? dockerHubServerUrl : host;
    const helper = Object.entries(docker.credHelpers ?? {}).find(
      ([key]) => normaliseRegistryKey(key) === host,
    )?.[1];
    if (helper !== undefined && helper !== "") {
      const found = await runCredentialHelper(helper, serverUrl, env, debug);
      if (found !== undefined) return found;
    }
    const entry = findEntry(docker.auths, host, undefined);
    const fromFile = entry === undefined ? undefined : decodeEntry(entry, `docker config ${dockerFile}`);
    if (fromFile !== undefined) return fromFile;
    if (typeof docker.credsStore === "string" && docker.credsStore !== "") {
      const found = await runCredentialHelper(docker.credsStore, serverUrl, env, debug);
      if (found !== undefined) return found;
    }
  }

  for (const file of podmanAuthFiles(env)) {
    const podman = await readAuthDocument(file);
    const entry = findEntry(podman?.auths, host, repository);
    const found = entry === undefined ? undefined : decodeEntry(entry, `podman auth file ${file}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Writes `document` to `path` so that no reader ever sees a partial file or a moment where it is
 * readable by others: a 0600 temporary file in the same 0700 directory, then rename.
 */
async function writePrivateJson(path: string, document: AuthFileDocument): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o600, dirMode: 0o700 });
}

/** Stores credentials for `registry` in hyperclair's auth file (docker's `auths` shape). */
export async function storeCredentials(
  registry: string,
  credentials: RegistryCredentials,
  options: CredentialOptions = {},
): Promise<string> {
  const path = options.authFile || defaultAuthFile(options.env ?? process.env);
  const document = (await readAuthDocument(path)) ?? {};
  const auths = { ...(document.auths ?? {}) };
  const key = registryKey(registry);
  for (const existing of Object.keys(auths))
    if (normaliseRegistryKey(existing) === key) delete auths[existing];
  auths[key] = { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64") };
  await writePrivateJson(path, { ...document, auths });
  return path;
}

/** Removes the credentials for `registry` from hyperclair's auth file; false when there were none. */
export async function removeCredentials(registry: string, options: CredentialOptions = {}): Promise<boolean> {
  const path = options.authFile || defaultAuthFile(options.env ?? process.env);
  const document = await readAuthDocument(path);
  if (document?.auths === undefined) return false;
  const key = registryKey(registry);
  const auths = { ...document.auths };
  let removed = false;
  for (const existing of Object.keys(auths)) {
    if (normaliseRegistryKey(existing) === key) {
      delete auths[existing];
      removed = true;
    }
  }
  if (removed) await writePrivateJson(path, { ...document, auths });
  return removed;
}
