/**
 * Where the CLI writes: stdout carries only the requested document; everything for the person
 * (progress, warnings, errors, debug) goes to stderr. Colour is off with NO_COLOR, --no-color or no TTY.
 */
export interface OutputOptions {
  color: boolean;
  quiet: boolean;
  debug: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export interface Output {
  readonly color: boolean;
  readonly quiet: boolean;
  readonly debugEnabled: boolean;
  /** The document (report, JSON, listing): stdout. */
  document(text: string): void;
  /** A line for the person: stderr, silenced by --quiet. */
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  debug(line: string): void;
  ok(text: string): string;
  bad(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const ansi = (open: number, close: number) => (enabled: boolean, text: string) =>
  enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text;
const green = ansi(32, 39);
const red = ansi(31, 39);
const yellow = ansi(33, 39);
const grey = ansi(90, 39);
const strong = ansi(1, 22);

export function shouldUseColor(flag: boolean | undefined, env: NodeJS.ProcessEnv, isTty: boolean): boolean {
  if (flag === false) return false;
  // https://no-color.org: any non-empty value disables colour.
  if (env["NO_COLOR"] !== undefined && env["NO_COLOR"] !== "") return false;
  if (flag === true && env["FORCE_COLOR"] !== undefined) return true;
  return isTty && env["TERM"] !== "dumb";
}

export function createOutput(options: OutputOptions): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const { color } = options;
  const line = (stream: NodeJS.WritableStream, text: string) =>
    stream.write(text.endsWith("\n") ? text : `${text}\n`);
  return {
    color,
    quiet: options.quiet,
    debugEnabled: options.debug,
    document: (text) => line(stdout, text),
    info: (text) => {
      if (!options.quiet) line(stderr, text);
    },
    warn: (text) => line(stderr, `${yellow(color, "warning:")} ${text}`),
    error: (text) => line(stderr, `${red(color, "error:")} ${text}`),
    debug: (text) => {
      if (options.debug) line(stderr, grey(color, `debug: ${text}`));
    },
    ok: (text) => green(color, text),
    bad: (text) => red(color, text),
    dim: (text) => grey(color, text),
    bold: (text) => strong(color, text),
  };
}
