/**
 * `WWW-Authenticate` challenges (RFC 7235 §4.1) as registries send them: `Basic realm="…"` or
 * `Bearer realm="…",service="…",scope="…",error="…"` (https://distribution.github.io/distribution/spec/auth/token/).
 * Quoted values may hold commas and escaped quotes, and one header may carry several challenges.
 */

export interface Challenge {
  /** Lower case: `basic`, `bearer`. */
  scheme: string;
  /** Parameter names in lower case. */
  params: Record<string, string>;
}

/** Parses every challenge in a `WWW-Authenticate` header value. */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (header === undefined) return [];
  const challenges: Challenge[] = [];
  let i = 0;
  const text = header;
  const skipSpace = () => {
    while (i < text.length && /[\s,]/.test(text[i]!)) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < text.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  while (i < text.length) {
    skipSpace();
    const scheme = readToken();
    if (scheme === "") {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    // auth-params: name=value pairs until the next bare token (the next scheme).
    for (;;) {
      while (i < text.length && /[\s,]/.test(text[i]!)) i++;
      const start = i;
      const name = readToken();
      while (i < text.length && text[i] === " ") i++;
      if (name === "" || text[i] !== "=") {
        i = start;
        break;
      }
      i++;
      while (i < text.length && text[i] === " ") i++;
      let value = "";
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === "\\" && i + 1 < text.length) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        const valueStart = i;
        while (i < text.length && text[i] !== ",") i++;
        value = text.slice(valueStart, i).trim();
      }
      challenge.params[name.toLowerCase()] = value;
    }
  }
  return challenges;
}

/** The challenge hyperclair answers: Bearer before Basic, as docker prefers it. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
}
