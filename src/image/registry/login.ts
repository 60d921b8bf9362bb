/**
 * `login` and `logout`: credentials are checked against the registry before they are stored
 * (as `docker login` does), and kept in hyperclair's own auth file, mode 0600.
 */
import type { Config } from "../../config/types.ts";
import { ImageError } from "../../errors.ts";
import { createRegistryClient } from "./client.ts";
import {
  defaultAuthFile,
  type RegistryCredentials,
  registryKey,
  removeCredentials,
  storeCredentials,
} from "./credentials.ts";

export interface LoginOptions {
  config: Config;
  debug?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  env?: Record<string, string | undefined> | undefined;
}

export interface LoginResult {
  /** The key the credentials are stored under (`docker.io` for Docker Hub). */
  registry: string;
  /** The auth file written. */
  file: string;
  /** `no-auth`: the registry accepts anyone; the credentials were stored anyway. */
  verification: "verified" | "no-auth";
}

export interface LogoutResult {
  registry: string;
  file: string;
  /** False when there were no stored credentials (exit 0, with a note). */
  removed: boolean;
}

/** `docker.io` and its aliases are spoken to at `registry-1.docker.io`; anything else as given. */
function apiHostOf(registry: string): string {
  const key = registryKey(registry);
  if (key.includes("/")) {
    throw new ImageError(`${JSON.stringify(registry)} is not a registry host`, {
      hint: "give the registry host only, e.g. ghcr.io or localhost:5000",
    });
  }
  return key === "docker.io" ? "registry-1.docker.io" : key;
}

/** Verifies the credentials against the registry, then stores them. Nothing is stored when they fail. */
export async function login(
  registry: string,
  username: string,
  password: string,
  options: LoginOptions,
): Promise<LoginResult> {
  if (username === "" || password === "") {
    throw new ImageError("login needs a username and a password", {
      hint: "pass --username and the password on stdin with --password-stdin",
    });
  }
  const credentials: RegistryCredentials = { username, password };
  const host = apiHostOf(registry);
  const client = createRegistryClient({
    config: options.config,
    credentials,
    debug: options.debug,
    signal: options.signal,
    env: options.env,
  });
  const verification = await client.verifyCredentials(host);
  const file = await storeCredentials(registry, credentials, {
    authFile: options.config.registry.authFile,
    env: options.env,
  });
  return { registry: registryKey(registry), file, verification };
}

/** Removes stored credentials for `registry` from hyperclair's auth file. */
export async function logout(registry: string, options: LoginOptions): Promise<LogoutResult> {
  apiHostOf(registry);
  const env = options.env ?? process.env;
  const file = options.config.registry.authFile || defaultAuthFile(env);
  const removed = await removeCredentials(registry, { authFile: options.config.registry.authFile, env });
  return { registry: registryKey(registry), file, removed };
}
