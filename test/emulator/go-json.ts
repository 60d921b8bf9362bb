/**
 * JSON the way Go's encoding/json writes and reads it, because both Clair generations are Go servers and
 * a client can see the difference: Go escapes `<`, `>`, `&` (HTMLEscape, on by default in json.Encoder),
 * ends each encoded value with a newline, and reports syntax errors with its scanner's wording
 * (`invalid character 'n' looking for beginning of object key string`).
 */

/** Encode like `json.NewEncoder(w).Encode(v)`: HTML-safe escapes and a trailing newline. */
export function encodeGoJson(value: unknown): string {
  return `${JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029")}\n`;
}

export class GoJsonError extends Error {}

/** Go's `quoteChar` (encoding/json/scanner.go): how a bad byte is shown inside a syntax error. */
function quoteGoChar(ch: string): string {
  if (ch === "'") return "'\\''";
  if (ch === '"') return "'\"'";
  const quoted = JSON.stringify(ch);
  return `'${quoted.slice(1, -1)}'`;
}

/**
 * Decode the first JSON value of `text` like `json.NewDecoder(r).Decode(&v)`: trailing data after the
 * first value is ignored, empty input is `EOF`, truncated input is `unexpected EOF`.
 */
export function decodeGoJson(text: string): unknown {
  let i = 0;
  const n = text.length;
  const isSpace = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";
  const skip = () => {
    while (i < n && isSpace(text[i])) i++;
  };
  const eof = (): never => {
    throw new GoJsonError("unexpected EOF");
  };
  const bad = (context: string): never => {
    throw new GoJsonError(`invalid character ${quoteGoChar(text[i] ?? "")} ${context}`);
  };

  const parseString = (): string => {
    // text[i] is the opening quote
    const start = i;
    i++;
    while (true) {
      if (i >= n) eof();
      const c = text[i]!;
      if (c === '"') break;
      if (c === "\\") {
        i++;
        if (i >= n) eof();
        const e = text[i]!;
        if (e === "u") {
          for (let k = 1; k <= 4; k++) {
            if (i + k >= n) {
              i = n;
              eof();
            }
            if (!/[0-9a-fA-F]/.test(text[i + k]!)) {
              i += k;
              bad("in \\u hexadecimal character escape");
            }
          }
          i += 5;
          continue;
        }
        if (!'"\\/bfnrt'.includes(e)) bad("in string escape code");
        i++;
        continue;
      }
      if (c.charCodeAt(0) < 0x20) bad("in string literal");
      i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };

  const parseNumber = (): number => {
    const start = i;
    if (text[i] === "-") {
      i++;
      if (i >= n) eof();
      if (!/[0-9]/.test(text[i]!)) bad("in numeric literal");
    }
    if (text[i] === "0") i++;
    else while (i < n && /[0-9]/.test(text[i]!)) i++;
    if (text[i] === ".") {
      i++;
      if (i >= n) eof();
      if (!/[0-9]/.test(text[i]!)) bad("after decimal point in numeric literal");
      while (i < n && /[0-9]/.test(text[i]!)) i++;
    }
    if (text[i] === "e" || text[i] === "E") {
      i++;
      if (text[i] === "+" || text[i] === "-") i++;
      if (i >= n) eof();
      if (!/[0-9]/.test(text[i]!)) bad("in exponent of numeric literal");
      while (i < n && /[0-9]/.test(text[i]!)) i++;
    }
    return Number(text.slice(start, i));
  };

  const parseLiteral = (word: string, value: unknown): unknown => {
    for (let k = 0; k < word.length; k++) {
      if (i >= n) eof();
      if (text[i] !== word[k]) bad(`in literal ${word} (expecting ${quoteGoChar(word[k]!)})`);
      i++;
    }
    return value;
  };

  const parseValue = (): unknown => {
    skip();
    if (i >= n) eof();
    const c = text[i]!;
    if (c === "{") {
      i++;
      const obj: Record<string, unknown> = {};
      skip();
      if (i >= n) eof();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      while (true) {
        skip();
        if (i >= n) eof();
        if (text[i] !== '"') bad("looking for beginning of object key string");
        const key = parseString();
        skip();
        if (i >= n) eof();
        if (text[i] !== ":") bad("after object key");
        i++;
        obj[key] = parseValue();
        skip();
        if (i >= n) eof();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return obj;
        }
        bad("after object key:value pair");
      }
    }
    if (c === "[") {
      i++;
      const arr: unknown[] = [];
      skip();
      if (i >= n) eof();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      while (true) {
        arr.push(parseValue());
        skip();
        if (i >= n) eof();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        bad("after array element");
      }
    }
    if (c === '"') return parseString();
    if (c === "-" || (c >= "0" && c <= "9")) return parseNumber();
    if (c === "t") return parseLiteral("true", true);
    if (c === "f") return parseLiteral("false", false);
    if (c === "n") return parseLiteral("null", null);
    return bad("looking for beginning of value");
  };

  skip();
  if (i >= n) throw new GoJsonError("EOF");
  return parseValue();
}

/** Go's name for a JSON value's kind, as used in `json: cannot unmarshal X into Go struct field …`. */
export function describeGoJsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") return "object";
  if (typeof value === "boolean") return "bool";
  return typeof value;
}

/**
 * Go matches JSON object keys to struct fields case-insensitively (exact match preferred), so
 * `{"layer":{"name":…}}` decodes into `Layer.Name`; a faithful emulator must accept the same spellings.
 */
export function getGoField(obj: Record<string, unknown>, field: string): unknown {
  if (Object.hasOwn(obj, field)) return obj[field];
  const lower = field.toLowerCase();
  let found: unknown;
  for (const [key, value] of Object.entries(obj)) {
    if (key.toLowerCase() === lower) found = value;
  }
  return found;
}
