import { resolve } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { describeConfig } from "../../config/describe.ts";
import { renderStarterConfig } from "../../config/starter.ts";
import { writeFileAtomic } from "../../fs/write-file-atomic.ts";
import { textOrJsonOption } from "../options.ts";
import { createCommandOutput, createContext, type GlobalArgs, type Runtime } from "../runtime.ts";

type ConfigArgs = GlobalArgs & { format: "text" | "json" };
type InitArgs = GlobalArgs & { path: string; force?: boolean | undefined };

export function configCommand(runtime: Runtime): CommandModule<GlobalArgs, ConfigArgs> {
  return {
    command: "config",
    describe: "Show the effective configuration and where each value came from (secrets redacted)",
    builder: (yargs: Argv<GlobalArgs>) =>
      textOrJsonOption(yargs)
        .command(configInitCommand(runtime))
        .example("$0 config", "Every key, its value and its source (default, file:line, env, flag)")
        .example(
          "HYPERCLAIR_CLAIR_URL=http://clair:6060 $0 config",
          "See an environment override take effect",
        )
        .example("$0 config init", "Write a commented starter file to ./.hyperclair.yml"),
    handler: (argv) => {
      const { out, loaded } = createContext(argv, runtime);
      const rows = describeConfig(loaded);
      if (argv.format === "json") {
        out.document(JSON.stringify({ file: loaded.file ?? null, values: rows }, null, 2));
        return;
      }
      const keyWidth = Math.max(...rows.map((row) => row.key.length));
      const valueWidth = Math.min(40, Math.max(...rows.map((row) => row.value.length)));
      const lines = [`# configuration file: ${loaded.file ?? "none found"}`];
      for (const row of rows) {
        lines.push(`${row.key.padEnd(keyWidth)}  ${row.value.padEnd(valueWidth)}  ${out.dim(row.source)}`);
      }
      out.document(lines.join("\n"));
    },
  };
}

function configInitCommand(runtime: Runtime): CommandModule<GlobalArgs, InitArgs> {
  return {
    command: "init",
    describe: "Write a commented starter configuration file",
    builder: (yargs: Argv<GlobalArgs>) =>
      yargs
        .option("path", {
          type: "string",
          default: ".hyperclair.yml",
          describe: "Where to write it",
        })
        .option("force", { type: "boolean", describe: "Overwrite an existing file" })
        .example("$0 config init", "Create ./.hyperclair.yml")
        .example("$0 config init --path ~/.config/hyperclair/config.yml", "Create your user-wide file"),
    handler: async (argv) => {
      const out = createCommandOutput(argv, runtime);
      const target = resolve(runtime.cwd, argv.path);
      await writeFileAtomic(target, renderStarterConfig(), {
        mode: 0o600,
        refuseExisting: argv.force !== true,
      });
      out.info(`wrote ${target}`);
    },
  };
}
