/** Small HTTP helpers shared by the Clair client and the registry client. */
import { InterruptedError } from "../errors.ts";

export const REDACTED = "[redacted]";

/** `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The URL without user info or secret-looking query parameters (signed blob URLs), for messages and logs. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const secretQuery = [...parsed.searchParams.keys()].some((key) => isSecretParameter(key));
    if (parsed.username === "" && parsed.password === "" && !secretQuery) return url;
    parsed.username = "";
    parsed.password = "";
    for (const key of [...parsed.searchParams.keys()]) {
      if (isSecretParameter(key)) parsed.searchParams.set(key, REDACTED);
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

function isSecretParameter(key: string): boolean {
  return /sig|token|signature|credential|secret|password|key/i.test(key);
}

/** Header names lower-cased, repeated headers joined with ", " (RFC 9110 §5.3). */
export function flattenHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || value === null) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

/** Resolves after `ms`, or rejects with InterruptedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new InterruptedError());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new InterruptedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
