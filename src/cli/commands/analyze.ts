import type { Argv, CommandModule } from "yargs";
import { readCredentials } from "../credentials.ts";
import { type ImageArgs, imageOptions, textOrJsonOption } from "../options.ts";
import { createProgress } from "../progress.ts";
import { createContext, type GlobalArgs, type Runtime, scanDependencies } from "../runtime.ts";

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
      const context = createContext(argv, runtime);
      const { out } = context;
      const credentials = await readCredentials(argv, runtime.stdin);
      const progress = await createProgress(out, runtime.stderr, { machineOutput: argv.format === "json" });
      const { analyzeImages } = await import("../../scan/analyze-image.ts");
      try {
        const results = await analyzeImages(
          {
            image: argv.image,
            local: argv.local,
            platform: argv.platform,
            allPlatforms: argv.allPlatforms,
            dockerPull: argv.dockerPull,
            credentials,
            noPush: argv.push === false,
          },
          scanDependencies(context, (event) => progress.update(event)),
        );
        progress.stop();
        if (argv.format === "json") {
          out.document(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
          return;
        }
        const { renderAnalysis } = await import("../views/analysis-view.ts");
        out.document(results.map((result) => renderAnalysis(result, out)).join("\n\n"));
      } finally {
        progress.stop();
      }
    },
  };
}
