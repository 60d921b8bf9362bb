import { formatConfigIssue } from "../config/describe.ts";
import { loadConfig } from "../config/load.ts";
import { resolveCacheDir } from "../config/paths.ts";
import type { Config, LoadedConfig } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import { createOutput, type Output, shouldUseColor } from "./output.ts";
import type { ProgressUpdate } from "./progress.ts";

/** Options every command accepts (see `globalOptions` in options.ts). */
export interface GlobalArgs {
  config?: string | undefined;
  clairUrl?: string | undefined;
  clairApi?: string | undefined;
  debug?: boolean | undefined;
  quiet?: boolean | undefined;
  color?: boolean | undefined;
}

/** What the process gives the CLI; injectable so tests can run the CLI in-process. */
export interface Runtime {
  readonly version: string;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly home: string;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Aborted on Ctrl-C / SIGTERM. */
  readonly signal: AbortSignal;
  exitCode: number;
}

/** Everything a command handler needs, built once per invocation from the global options. */
export interface CommandContext {
  readonly out: Output;
  readonly loaded: LoadedConfig;
  readonly config: Config;
  readonly runtime: Runtime;
}

/** Global flags that map onto configuration keys (flags win over file and environment). */
export const configFlags = {
  clairUrl: "clair.url",
  clairApi: "clair.api",
} as const satisfies Partial<Record<keyof GlobalArgs, string>>;

export function createCommandOutput(argv: GlobalArgs, runtime: Runtime): Output {
  const color = shouldUseColor(argv.color, runtime.env, runtime.stderr.isTTY === true);
  return createOutput({
    color,
    quiet: argv.quiet === true,
    debug: argv.debug === true,
    stdout: runtime.stdout,
    stderr: runtime.stderr,
  });
}

export function createContext(
  argv: GlobalArgs,
  runtime: Runtime,
  options: { tolerateConfigErrors?: boolean } = {},
): CommandContext {
  const out = createCommandOutput(argv, runtime);
  const flags: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(configFlags)) {
    const value = argv[flag as keyof typeof configFlags];
    if (value !== undefined) flags[key] = value;
  }
  const loaded = loadConfig({
    configPath: argv.config,
    cwd: runtime.cwd,
    home: runtime.home,
    env: runtime.env,
    flags,
  });
  for (const warning of loaded.warnings) out.warn(warning);
  const last = loaded.errors.at(-1);
  if (last && !options.tolerateConfigErrors) {
    // Every problem gets its own line, in file order; the error boundary prints the last one.
    for (const issue of loaded.errors.slice(0, -1)) out.error(formatConfigIssue(issue));
    throw new ConfigError(formatConfigIssue(last), {
      hint:
        loaded.errors.length > 1
          ? `fix the ${loaded.errors.length} problems above and retry`
          : "fix the value and retry",
    });
  }
  if (loaded.file) out.debug(`configuration file: ${loaded.file}`);
  return { out, loaded, config: loaded.config, runtime };
}

/** What every image-reading use-case needs from the CLI. */
export function scanDependencies(context: CommandContext, onProgress: (event: ProgressUpdate) => void) {
  const { runtime, config, out } = context;
  return {
    config,
    cacheDir: resolveCacheDir(config, runtime.env, runtime.home),
    env: runtime.env,
    debug: out.debug,
    signal: runtime.signal,
    onProgress,
    toolVersion: runtime.version,
  };
}
