import { HyperclairError } from "../errors.ts";
import { displayUrl } from "../http/common.ts";
import type { HealthCheck } from "./client.ts";

/**
 * Runs one health check: a thrown hyperclair error becomes a ✘ line with its message and hint, so one
 * failing endpoint never hides the others. Anything else is a bug and propagates.
 */
export async function runCheck(
  name: string,
  url: string,
  check: () => Promise<string>,
): Promise<HealthCheck> {
  const shown = displayUrl(url);
  try {
    return { name, url: shown, ok: true, detail: await check() };
  } catch (error) {
    if (!(error instanceof HyperclairError)) throw error;
    const detail = error.hint === undefined ? error.message : `${error.message}; ${error.hint}`;
    return { name, url: shown, ok: false, detail };
  }
}
