import type { Argv } from "yargs";
import type { GlobalArgs } from "./runtime.ts";

/** Options every command takes; defined once (release-please style option groups). */
export function globalOptions<T>(yargs: Argv<T>): Argv<T & GlobalArgs> {
  return yargs
    .option("config", {
      type: "string",
      describe:
        "Configuration file (default: ./.hyperclair.yml, $XDG_CONFIG_HOME/hyperclair/config.yml, ~/.hyperclair.yml)",
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

export interface ImageArgs {
  image: string;
  local?: boolean | undefined;
  platform?: string | undefined;
  allPlatforms?: boolean | undefined;
  dockerPull?: boolean | undefined;
  username?: string | undefined;
  passwordStdin?: boolean | undefined;
}

/** The image positional and the options that say where and how to read it. */
export function imageOptions<T>(yargs: Argv<T>): Argv<T & ImageArgs> {
  return yargs
    .positional("image", {
      type: "string",
      demandOption: true,
      describe:
        "Image: a reference (alpine:3.19, ghcr.io/o/r@sha256:…), or registry:REF, docker:REF, docker-archive:PATH, oci-archive:PATH, oci:DIR",
    })
    .option("local", {
      alias: "l",
      type: "boolean",
      describe: "Read the image from the Docker daemon (same as docker:REF)",
      group: "Image options:",
    })
    .option("platform", {
      type: "string",
      describe: "Platform to pick from a multi-arch image: os/arch[/variant] (registry.platform)",
      group: "Image options:",
    })
    .option("all-platforms", {
      type: "boolean",
      describe: "Every platform of a multi-arch image",
      group: "Image options:",
    })
    .option("docker-pull", {
      type: "boolean",
      describe: "Have the Docker daemon pull the image first (with --local)",
      group: "Image options:",
    })
    .option("username", {
      alias: "u",
      type: "string",
      describe: "Registry user name (the password comes from --password-stdin)",
      group: "Image options:",
    })
    .option("password-stdin", {
      type: "boolean",
      describe: "Read the registry password from standard input",
      group: "Image options:",
    }) as unknown as Argv<T & ImageArgs>;
}
