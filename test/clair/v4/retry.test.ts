import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type RetryEvent, retryWithBackoff } from "../../../src/clair/retry.ts";
import { InterruptedError } from "../../../src/errors.ts";
import { parseRetryAfter } from "../../../src/http/common.ts";

// The shared retry helper (src/clair/retry.ts), used by the v4 client and available to v1.
const policy = { attempts: 3, initialDelayMs: 10, maxDelayMs: 40, maxRetryAfterMs: 50 };

describe("retryWithBackoff", () => {
  it("stops after the policy's attempts and throws the last failure", async () => {
    let calls = 0;
    const events: RetryEvent[] = [];
    await assert.rejects(
      retryWithBackoff(
        async (n) => {
          calls++;
          return { done: false, error: new Error(`attempt ${n} failed`), reason: "HTTP 503" };
        },
        policy,
        { onRetry: (e) => events.push(e) },
      ),
      /attempt 3 failed/,
    );
    assert.equal(calls, 3);
    assert.deepEqual(
      events.map((e) => [e.attempt, e.reason]),
      [
        [2, "HTTP 503"],
        [3, "HTTP 503"],
      ],
    );
    // Doubling backoff with ±10% jitter.
    assert.ok(events[0]!.delayMs >= 9 && events[0]!.delayMs <= 11, String(events[0]!.delayMs));
    assert.ok(events[1]!.delayMs >= 18 && events[1]!.delayMs <= 22, String(events[1]!.delayMs));
  });

  it("waits what Retry-After asks, cut to the policy's bound", async () => {
    const events: RetryEvent[] = [];
    const value = await retryWithBackoff(
      async (n) =>
        n < 3
          ? { done: false, error: new Error("busy"), reason: "HTTP 429", retryAfterMs: n === 1 ? 30 : 5_000 }
          : { done: true, value: "ok" },
      policy,
      { onRetry: (e) => events.push(e) },
    );
    assert.equal(value, "ok");
    assert.deepEqual(
      events.map((e) => e.delayMs),
      [30, 50],
    );
  });

  it("stops waiting with InterruptedError when the signal aborts", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const started = Date.now();
    await assert.rejects(
      retryWithBackoff(
        async () => ({ done: false, error: new Error("busy"), reason: "HTTP 429", retryAfterMs: 60_000 }),
        { ...policy, maxRetryAfterMs: 60_000 },
        { signal: controller.signal },
      ),
      (error: unknown) => error instanceof InterruptedError && error.exitCode === 130,
    );
    assert.ok(Date.now() - started < 1_000);
  });
});

describe("parseRetryAfter", () => {
  it("reads delay-seconds and HTTP-dates (RFC 9110 §10.2.3)", () => {
    assert.equal(parseRetryAfter("3"), 3_000);
    assert.equal(parseRetryAfter(" 0 "), 0);
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", now), 5_000);
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter("soon"), undefined);
  });
});
