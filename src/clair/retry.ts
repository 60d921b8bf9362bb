import { ClairError, InterruptedError } from "../errors.ts";
import { parseRetryAfter, sleep } from "../http/common.ts";
import { apiTarget, type ClairHttp, type ClairRequest, type ClairResponse, mapStatusError } from "./http.ts";

/**
 * Bounded retries with exponential backoff that honour `Retry-After`, shared by the v1 and v4 clients.
 * Clair asks to be retried unchanged on 5xx (NOTES.md §1.2) and with backoff on 429 (v4
 * `index_report_request_concurrency`, §2.4); a 2xx whose body is not JSON is a failed encode (§2.3).
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Wait before the second attempt; doubles after each retry. */
  initialDelayMs: number;
  /** Longest backoff wait. */
  maxDelayMs: number;
  /** Longest wait a `Retry-After` may impose; a longer one is cut to this so the retry stays bounded. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 5,
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
};

/** Statuses worth sending the same request again for. */
export const RETRYABLE_STATUSES: readonly number[] = [429, 500, 502, 503, 504];

/** One attempt's outcome: a value, or a failure worth retrying (anything else is thrown). */
export type AttemptOutcome<T> =
  | { done: true; value: T }
  | {
      done: false;
      /** Thrown when no attempt is left. */
      error: Error;
      /** Short words for progress lines, e.g. `HTTP 503`. */
      reason: string;
      /** What the server asked for (`Retry-After`), in milliseconds. */
      retryAfterMs?: number | undefined;
    };

export interface RetryEvent {
  /** The attempt about to be made (2 = first retry). */
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface RetryHooks {
  signal?: AbortSignal | undefined;
  onRetry?: ((event: RetryEvent) => void) | undefined;
}

/** Runs `attempt` until it is done, it throws, or the policy's attempts are used up. */
export async function retryWithBackoff<T>(
  attempt: (n: number) => Promise<AttemptOutcome<T>>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<T> {
  for (let n = 1; ; n++) {
    throwIfAborted(hooks.signal);
    const outcome = await attempt(n);
    if (outcome.done) return outcome.value;
    if (n >= policy.attempts) throw outcome.error;
    const delayMs =
      outcome.retryAfterMs === undefined
        ? backoffDelay(policy, n)
        : Math.min(outcome.retryAfterMs, policy.maxRetryAfterMs);
    hooks.onRetry?.({ attempt: n + 1, delayMs, reason: outcome.reason });
    await sleep(delayMs, hooks.signal);
  }
}

/** The wait after failed attempt `n` (1-based): doubling from the initial delay, capped, ±10% jitter. */
export function backoffDelay(policy: RetryPolicy, n: number): number {
  const base = Math.min(policy.initialDelayMs * 2 ** (n - 1), policy.maxDelayMs);
  return Math.round(base * (0.9 + Math.random() * 0.2));
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new InterruptedError();
}

export interface RetryRequestOptions extends RetryHooks {
  policy: RetryPolicy;
  /**
   * Inspects every answer first; an error returned here is thrown at once, never retried (e.g. a v4 500
   * that says a layer could not be fetched: sending the same manifest again fails the same way).
   */
  fail?: ((response: ClairResponse) => Error | undefined) | undefined;
}

/**
 * `ClairHttp.request` with retries on 429/5xx (honouring `Retry-After`) and on 2xx answers that should be
 * JSON and are not. The error after the last attempt is the one `request` itself would give.
 */
export function requestWithRetry(
  http: ClairHttp,
  request: ClairRequest,
  options: RetryRequestOptions,
): Promise<ClairResponse> {
  const ok = request.ok ?? [200];
  const accepted = [...ok, ...RETRYABLE_STATUSES.filter((status) => !ok.includes(status))];
  return retryWithBackoff<ClairResponse>(
    async () => {
      let response: ClairResponse;
      try {
        response = await http.request({ ...request, ok: accepted, signal: request.signal ?? options.signal });
      } catch (error) {
        // `request` only throws for an accepted status when the body was not the JSON asked for.
        if (error instanceof ClairError && error.status !== undefined && accepted.includes(error.status)) {
          return { done: false, error, reason: `HTTP ${error.status} with a body that is not JSON` };
        }
        throw error;
      }
      const failure = options.fail?.(response);
      if (failure !== undefined) throw failure;
      if (ok.includes(response.status)) return { done: true, value: response };
      const error = mapStatusError(response, {
        target: request.target ?? apiTarget,
        message: request.errors?.[response.status],
        signed: request.auth !== false && http.signs,
      });
      return {
        done: false,
        error,
        reason: `HTTP ${response.status}`,
        retryAfterMs: parseRetryAfter(response.headers["retry-after"]),
      };
    },
    options.policy,
    options,
  );
}
