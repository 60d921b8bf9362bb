import { readFileSync } from "node:fs";

/**
 * `--help` text rendered by yargs at build time (scripts/build-help-cache.mjs), so that asking for help
 * does not pay for loading the parser. The text is yargs' own output at a fixed width; narrower
 * terminals get the live parser, which wraps to fit.
 */
export const HELP_WIDTH = 100;

const helpFlags = new Set(["--help", "-h"]);

export function helpCacheKey(argv: readonly string[]): string | undefined {
  const last = argv.at(-1);
  if (last === undefined || !helpFlags.has(last)) return undefined;
  const words = argv.slice(0, -1);
  if (!words.every((word) => /^[a-z][a-z-]*$/.test(word))) return undefined;
  return words.length === 0 ? "index" : words.join("-");
}

export function readHelpCache(argv: readonly string[], columns: number | undefined): string | undefined {
  const key = helpCacheKey(argv);
  if (key === undefined || (columns !== undefined && columns < HELP_WIDTH)) return undefined;
  try {
    return readFileSync(new URL(`./help/${key}.txt`, import.meta.url), "utf8");
  } catch {
    return undefined;
  }
}
