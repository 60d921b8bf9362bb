import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRange, type RangeDecision } from "../../src/serve/range.ts";

const size = 1000;
const cases: Array<[string | undefined, RangeDecision]> = [
  [undefined, { kind: "full" }],
  ["bytes=0-499", { kind: "partial", range: { start: 0, end: 499 } }],
  ["bytes=500-", { kind: "partial", range: { start: 500, end: 999 } }],
  ["bytes=-1", { kind: "partial", range: { start: 999, end: 999 } }],
  ["bytes=-2000", { kind: "partial", range: { start: 0, end: 999 } }],
  ["bytes=990-5000", { kind: "partial", range: { start: 990, end: 999 } }],
  ["BYTES = 1 - 2", { kind: "partial", range: { start: 1, end: 2 } }],
  ["bytes=999-999", { kind: "partial", range: { start: 999, end: 999 } }],
  ["bytes=1000-", { kind: "unsatisfiable" }],
  ["bytes=1000-1001", { kind: "unsatisfiable" }],
  ["bytes=-0", { kind: "unsatisfiable" }],
  // Ignored, the whole blob is served (RFC 9110 §14.2 lets a server ignore Range).
  ["bytes=0-1,3-4", { kind: "full" }],
  ["bytes=5-1", { kind: "full" }],
  ["bytes=-", { kind: "full" }],
  ["items=0-1", { kind: "full" }],
  ["bytes=a-b", { kind: "full" }],
];

for (const [header, expected] of cases) {
  test(`Range ${header ?? "(none)"} on ${size} bytes`, () => {
    assert.deepEqual(parseRange(header, size), expected);
  });
}

test("any range on an empty blob is unsatisfiable", () => {
  assert.deepEqual(parseRange("bytes=0-", 0), { kind: "unsatisfiable" });
  assert.deepEqual(parseRange("bytes=-5", 0), { kind: "unsatisfiable" });
});
