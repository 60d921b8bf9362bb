import type { Argv } from "yargs";
import type { GlobalArgs } from "./runtime.ts";

/** Options every command takes; defined once (release-please style option groups). */
export function globalOptions<T>(yargs: Argv<T>): Argv<T & GlobalArgs> {
  return yargs
    .option("config", {
      type: "string",
      describe: "Configuration file (default: ./.hyperclair.yml, $XDG_CONFIG_HOME/hyperclair/config.yml, ~/.hyperclair.yml)",
      global: true,
      group: "Global options:",
    })
    .option("clair-url", {
      type: "string",
      describe: "Clair API base URL (clair.url)",
      global: true,
      group: "Global options:",
    })
    .option("clair-api", {
      type: "string",
      choices: ["auto", "v1", "v4"],
      describe: "Clair API to speak; auto detects it (clair.api)",
      global: true,
      group: "Global options:",
    })
    .option("debug", {
      type: "boolean",
      describe: "Show stack traces and HTTP exchanges (secrets redacted)",
      global: true,
      group: "Global options:",
    })
    .option("quiet", {
      alias: "q",
      type: "boolean",
      describe: "Print only the result and errors",
      global: true,
      group: "Global options:",
    })
    .option("color", {
      type: "boolean",
      describe: "Colour output (off with --no-color, NO_COLOR or no TTY)",
      global: true,
      group: "Global options:",
    }) as unknown as Argv<T & GlobalArgs>;
}

/** `--format` for commands that can print either text for a person or JSON for a machine. */
export function textOrJsonOption<T>(yargs: Argv<T>): Argv<T & { format: "text" | "json" }> {
  return yargs.option("format", {
    alias: "f",
    choices: ["text", "json"] as const,
    default: "text" as const,
    describe: "Output format",
  });
}
