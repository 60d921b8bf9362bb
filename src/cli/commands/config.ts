import { constants } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { describeConfig } from "../../config/describe.ts";
import { renderStarterConfig } from "../../config/starter.ts";
import { EnvironmentError, UsageError } from "../../errors.ts";
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
      await writeFileAtomically(target, renderStarterConfig(), argv.force === true);
      out.info(`wrote ${target}`);
    },
  };
}

/** Written beside the target and renamed into place, so a failure never leaves half a file. */
async function writeFileAtomically(target: string, text: string, overwrite: boolean): Promise<void> {
  if (!overwrite) {
    const exists = await open(target, constants.O_RDONLY).then(
      async (handle) => {
        await handle.close();
        return true;
      },
      () => false,
    );
    if (exists) throw new UsageError(`${target} already exists`, { hint: "pass --force to overwrite it" });
  }
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  try {
    const handle = await open(temporary, "wx", 0o600);
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new EnvironmentError(`cannot write ${target} (${reason})`, {
      hint: "check that the directory exists and is writable",
      cause: error,
    });
  }
}
