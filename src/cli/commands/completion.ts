import type { Argv, CommandModule } from "yargs";
import type { GlobalArgs } from "../runtime.ts";

const shells = ["bash", "zsh"] as const;
type Shell = (typeof shells)[number];

/**
 * yargs chooses the script's dialect from $SHELL when the parser is created, so the requested
 * shell is put there before that happens.
 */
export function prepareCompletionShell(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  const shell = argv[0] === "completion" ? argv[1] : undefined;
  if (shell && (shells as readonly string[]).includes(shell)) {
    process.env["SHELL"] = `/bin/${shell}`;
    env["SHELL"] = `/bin/${shell}`;
  }
}

export function completionCommand(
  parser: () => Argv<GlobalArgs>,
): CommandModule<GlobalArgs, GlobalArgs & { shell?: Shell }> {
  return {
    command: "completion [shell]",
    describe: "Print a shell completion script (bash or zsh)",
    builder: (yargs) =>
      yargs
        .positional("shell", {
          choices: shells,
          describe: "Shell dialect (default: from $SHELL)",
        })
        .example("$0 completion bash >> ~/.bashrc", "Complete hyperclair commands and options in bash")
        .example("$0 completion zsh >> ~/.zshrc", "The same for zsh") as Argv<GlobalArgs & { shell?: Shell }>,
    handler: () => {
      // The typings lag behind yargs: showCompletionScript takes ($0, command name for the install hint).
      const show = parser().showCompletionScript as unknown as (
        this: unknown,
        $0: string,
        command: string,
      ) => void;
      show.call(parser(), "hyperclair", "completion");
    },
  };
}
