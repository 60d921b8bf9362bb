import type { Argv, CommandModule } from "yargs";
import { runImageCommand } from "../image-command.ts";
import { type ImageArgs, imageOptions, textOrJsonOption } from "../options.ts";
import type { GlobalArgs, Runtime } from "../runtime.ts";

type AnalyzeArgs = GlobalArgs & ImageArgs & { format: "text" | "json"; push?: boolean | undefined };

export function analyzeCommand(runtime: Runtime): CommandModule<GlobalArgs, AnalyzeArgs> {
  return {
    command: "analyze <image>",
    aliases: ["analyse"],
    describe: "Clair's findings for an image: counts by severity, fixable counts, per-layer breakdown",
    builder: (yargs: Argv<GlobalArgs>) =>
      textOrJsonOption(imageOptions(yargs))
        .option("push", {
          type: "boolean",
          default: true,
          describe: "Push the image first when Clair does not know it (--no-push forbids it)",
        })
        .example("$0 analyze alpine:3.19", "Push if needed, then summarise Clair's report")
        .example("$0 analyze myapp:dev --local --format json", "The scan result model, for scripts")
        .example("$0 analyze app:1.2 --no-push", "Only read what Clair already has"),
    handler: async (argv) => {
      const { result: results, out } = await runImageCommand(argv, runtime, async (request, deps) => {
        const { analyzeImages } = await import("../../scan/analyze-image.ts");
        return analyzeImages({ ...request, noPush: argv.push === false }, deps);
      });
      if (argv.format === "json") {
        out.document(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
        return;
      }
      const { renderAnalysis } = await import("../views/analysis-view.ts");
      out.document(results.map((result) => renderAnalysis(result, out)).join("\n\n"));
    },
  };
}
