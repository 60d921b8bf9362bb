/** Levenshtein distance, case-insensitive: `insecureskipverify` is one fix away from nothing. */
export function measureEditDistance(a: string, b: string): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  let previous = Array.from({ length: right.length + 1 }, (_, i) => i);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      const cost = left[i - 1] === right[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[right.length]!;
}

/**
 * The candidate closest to `input`, if it is close enough to be a plausible typo; otherwise a
 * candidate whose last dotted segment equals the input's (a key put in the wrong section).
 */
export function suggestClosest(
  input: string,
  candidates: Iterable<string>,
  maxDistance?: number,
): string | undefined {
  const limit = maxDistance ?? Math.max(2, Math.floor(input.length / 4));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const list = [...candidates];
  for (const candidate of list) {
    const distance = measureEditDistance(input, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined && bestDistance <= limit) return best;
  const last = input.split(".").at(-1)?.toLowerCase();
  return list.find((candidate) => candidate.split(".").at(-1)?.toLowerCase() === last);
}
