/**
 * Switchable faults. Bursts count down per matching request, so a test can say "the next two
 * vulnerability_report requests fail" and then see the recovery.
 */
export interface EmulatorFaults {
  latencyMs?: number;
  /** Latency for matching requests only (e.g. `{ ms: 10_000, method: "POST", route: "index_report" }`). */
  latency?: { ms: number; route?: string; method?: string };
  // each "burst" applies to the next `count` requests whose path contains `route` (any API route if omitted)
  errors?: { status: 500 | 502 | 503; count: number; route?: string };
  tooManyRequests?: { count: number; retryAfterSeconds: number; route?: string };
  matcherNotReady?: { count?: number; forMs?: number }; // v4: 202 empty from vulnerability_report
  resetMidBody?: { count: number; route?: string };
  nonJson?: { count: number; route?: string };
}

type Burst = "errors" | "tooManyRequests" | "resetMidBody" | "nonJson";

export class FaultState {
  private faults: EmulatorFaults = {};
  private notReadyUntil = 0;
  private notReadyCount = 0;

  constructor(initial: EmulatorFaults = {}) {
    this.set(initial);
  }

  /** Replace every fault with a fresh copy of `faults` (counts start again). */
  set(faults: EmulatorFaults): void {
    this.faults = structuredClone(faults);
    const notReady = faults.matcherNotReady;
    this.notReadyCount = notReady?.count ?? 0;
    this.notReadyUntil = notReady?.forMs !== undefined ? Date.now() + notReady.forMs : 0;
  }

  latencyMs(method = "", path = ""): number {
    const targeted = this.faults.latency;
    const applies =
      targeted !== undefined &&
      (targeted.route === undefined || path.includes(targeted.route)) &&
      (targeted.method === undefined || targeted.method === method);
    return (this.faults.latencyMs ?? 0) + (applies ? targeted.ms : 0);
  }

  /** Consume one unit of a burst when it applies to `path`; returns the burst's settings, if it fired. */
  take<K extends Burst>(kind: K, path: string): NonNullable<EmulatorFaults[K]> | undefined {
    const burst = this.faults[kind];
    if (!burst || burst.count <= 0) return undefined;
    if (burst.route !== undefined && !path.includes(burst.route)) return undefined;
    burst.count--;
    return burst as NonNullable<EmulatorFaults[K]>;
  }

  /** Whether this vulnerability_report request should get the matcher's "not initialized" 202. */
  takeMatcherNotReady(): boolean {
    if (this.notReadyUntil > Date.now()) return true;
    if (this.notReadyCount > 0) {
      this.notReadyCount--;
      return true;
    }
    return false;
  }
}
