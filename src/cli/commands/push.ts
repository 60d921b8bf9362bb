import type { Argv, CommandModule } from "yargs";
import { runImageCommand } from "../image-command.ts";
import { type ImageArgs, imageOptions, textOrJsonOption } from "../options.ts";
import { formatBytes } from "../progress.ts";
import type { GlobalArgs, Runtime } from "../runtime.ts";
import { shortDigest } from "../views/image-view.ts";

type PushArgs = GlobalArgs & ImageArgs & { format: "text" | "json"; force?: boolean | undefined };

export function pushCommand(runtime: Runtime): CommandModule<GlobalArgs, PushArgs> {
  return {
    command: "push <image>",
    describe: "Submit an image's layers to Clair (skips what Clair already indexed)",
    builder: (yargs: Argv<GlobalArgs>) =>
      textOrJsonOption(imageOptions(yargs))
        .option("force", { type: "boolean", describe: "Submit even when Clair already has the image" })
        .example("$0 push registry.example.com/team/app:1.4.2", "Clair fetches the layers from the registry")
        .example("$0 push myapp:dev --local", "Layers exported from the Docker daemon and served to Clair")
        .example("$0 push oci-archive:app.tar", "Layers from an image archive"),
    handler: async (argv) => {
      const { result: outcomes, out } = await runImageCommand(argv, runtime, async (request, deps) => {
        const { pushImages } = await import("../../scan/push-image.ts");
        return pushImages(request, { ...deps, force: argv.force });
      });
      if (argv.format === "json") {
        out.document(
          JSON.stringify(
            outcomes.map((outcome) => ({
              reference: outcome.image.reference,
              digest: outcome.image.digest,
              status: outcome.status,
              submitted: outcome.submit?.submitted ?? 0,
              skipped: outcome.submit?.skipped ?? 0,
              warnings: outcome.submit?.warnings ?? [],
              served: outcome.served,
            })),
            null,
            2,
          ),
        );
        return;
      }
      for (const outcome of outcomes) {
        const { image } = outcome;
        const name = `${image.reference} (${shortDigest(image.digest)})`;
        if (outcome.status === "already-indexed") {
          out.document(`${out.ok("✔")} ${name}: Clair already has it; nothing sent`);
          continue;
        }
        const served = Object.values(outcome.served).reduce((sum, bytes) => sum + bytes, 0);
        const servedNote =
          Object.keys(outcome.served).length > 0 ? `, ${formatBytes(served)} served to Clair` : "";
        const submit = outcome.submit!;
        out.document(
          `${out.ok("✔")} ${name}: pushed (${submit.submitted} submitted, ${submit.skipped} already in Clair${servedNote})`,
        );
        for (const warning of submit.warnings) out.warn(warning.message);
      }
    },
  };
}
