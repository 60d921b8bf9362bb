import { join } from "node:path";
import type { Config } from "./types.ts";

/** `cache.dir`, or `$XDG_CACHE_HOME/hyperclair`, or `~/.cache/hyperclair` (XDG base directory spec). */
export function resolveCacheDir(
  config: Config,
  env: Record<string, string | undefined>,
  home: string,
): string {
  if (config.cache.dir) return config.cache.dir;
  const base = env["XDG_CACHE_HOME"] || join(home, ".cache");
  return join(base, "hyperclair");
}
