import yargs, { type Argv, type CommandModule } from "yargs";
import { UsageError } from "../errors.ts";
import { analyzeCommand } from "./commands/analyze.ts";
import { completionCommand, prepareCompletionShell } from "./commands/completion.ts";
import { configCommand } from "./commands/config.ts";
import { deleteCommand } from "./commands/delete.ts";
import { doctorCommand } from "./commands/doctor.ts";
import { healthCommand } from "./commands/health.ts";
import { loginCommand, logoutCommand } from "./commands/login.ts";
import { pullCommand } from "./commands/pull.ts";
import { pushCommand } from "./commands/push.ts";
import { versionCommand } from "./commands/version.ts";
import { HELP_WIDTH } from "./help-cache.ts";
import { globalOptions } from "./options.ts";
import type { GlobalArgs, Runtime } from "./runtime.ts";

type CommandFactory = (runtime: Runtime) => CommandModule<GlobalArgs, never>;

/** Registered explicitly: yargs' commandDir does not work under ESM. */
const commands: CommandFactory[] = [
  pullCommand as CommandFactory,
  pushCommand as CommandFactory,
  analyzeCommand as CommandFactory,
  deleteCommand as CommandFactory,
  doctorCommand as CommandFactory,
  loginCommand as CommandFactory,
  logoutCommand as CommandFactory,
  healthCommand as CommandFactory,
  versionCommand as CommandFactory,
  configCommand as CommandFactory,
];

/** Every command path that has its own --help page (for the build-time help cache). */
export const commandPaths: string[][] = [
  ["pull"],
  ["push"],
  ["analyze"],
  ["delete"],
  ["doctor"],
  ["login"],
  ["logout"],
  ["health"],
  ["version"],
  ["config"],
  ["config", "init"],
  ["completion"],
];

export interface ParserOptions {
  /** When false, help is rendered at the cache width whatever the terminal is. */
  interactive?: boolean;
}

export function buildParser(runtime: Runtime, options: ParserOptions = {}): Argv<GlobalArgs> {
  prepareCompletionShell(process.argv.slice(2), runtime.env);
  const columns =
    options.interactive === false ? undefined : (runtime.stdout as { columns?: number }).columns;
  let parser = globalOptions(yargs())
    .scriptName("hyperclair")
    .usage("hyperclair — scan container images with Clair\n\nUsage: $0 <command> [options]")
    .version(runtime.version)
    .alias("version", "V")
    .help()
    .alias("help", "h")
    .wrap(Math.min(HELP_WIDTH, columns ?? HELP_WIDTH))
    .strict()
    .demandCommand(1, "Name a command; see the list above.")
    .recommendCommands()
    .example("$0 health", "Check that Clair is reachable and healthy, and which API it speaks")
    .example("$0 config", "Show the effective configuration and where each value came from")
    .epilogue(
      "Exit codes: 0 ok · 1 findings at or above --fail-on · 2 wrong input · 3 Clair, registry, daemon or network failed · 130 interrupted",
    )
    .exitProcess(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new UsageError(message ?? "invalid usage", { hint: "see hyperclair --help" });
    });
  for (const command of commands) parser = parser.command(command(runtime));
  // The hidden completion entry answers `--get-yargs-completions` for the generated scripts;
  // `hyperclair completion [bash|zsh]` prints those scripts.
  parser = parser.completion("completion-script", false);
  return parser.command(completionCommand(() => parser));
}
