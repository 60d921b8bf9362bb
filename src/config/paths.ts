import { isAbsolute, join } from "node:path";
import type { Config } from "./types.ts";

/** `cache.dir`, or `$XDG_CACHE_HOME/hyperclair`, or `~/.cache/hyperclair` (XDG base directory spec). */
export function resolveCacheDir(
  config: Config,
  env: Record<string, string | undefined>,
  home: string,
): string {
  if (config.cache.dir) return config.cache.dir;
  // The spec says to ignore a relative XDG_CACHE_HOME.
  const xdg = env["XDG_CACHE_HOME"];
  const base = xdg && isAbsolute(xdg) ? xdg : join(home, ".cache");
  return join(base, "hyperclair");
}
