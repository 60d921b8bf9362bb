import type { Argv, CommandModule } from "yargs";
import { runImageCommand } from "../image-command.ts";
import { type ImageArgs, imageOptions, textOrJsonOption } from "../options.ts";
import type { GlobalArgs, Runtime } from "../runtime.ts";

type DeleteArgs = GlobalArgs & ImageArgs & { format: "text" | "json"; force?: boolean | undefined };

export function deleteCommand(runtime: Runtime): CommandModule<GlobalArgs, DeleteArgs> {
  return {
    command: "delete <image>",
    describe: "Remove an image's index data from Clair",
    builder: (yargs: Argv<GlobalArgs>) =>
      textOrJsonOption(imageOptions(yargs))
        .option("force", {
          type: "boolean",
          describe: "Clair 2.x: also delete layers other pushed images stand on (they lose them too)",
        })
        .example("$0 delete registry.example.com/team/app:1.4.2", "Forget the image in Clair")
        .example("$0 delete myapp:dev --local", "The same for a daemon image")
        .epilogue(
          "Clair 2.x deletes a layer with every layer built on it, and images share base layers: hyperclair " +
            "deletes only the layers no other image it pushed stands on, and says which it kept.",
        ),
    handler: async (argv) => {
      const { result: outcomes, out } = await runImageCommand(argv, runtime, async (request, deps) => {
        const { deleteImages } = await import("../../scan/delete-image.ts");
        return deleteImages({ ...request, force: argv.force }, deps);
      });
      if (argv.format === "json") {
        out.document(
          JSON.stringify(
            outcomes.map((outcome) => ({
              reference: outcome.image.reference,
              digest: outcome.image.digest,
              deleted: outcome.result.deleted,
              missing: outcome.result.missing,
              kept: outcome.kept,
              affected: outcome.affected,
            })),
            null,
            2,
          ),
        );
        return;
      }
      for (const outcome of outcomes) {
        const { image, result } = outcome;
        if (result.deleted.length === 0) {
          out.document(`${image.reference}: Clair has nothing for ${image.digest}; nothing deleted`);
        } else {
          out.document(
            `${out.ok("✔")} ${image.reference}: deleted ${result.deleted.length} item(s) from Clair`,
          );
        }
        for (const kept of outcome.kept) {
          out.document(`  kept layer ${kept.layerIndex}: ${kept.sharedWith.join(", ")} stand(s) on it`);
        }
        if (outcome.affected.length > 0) {
          out.warn(`these images lost layers in Clair too: ${outcome.affected.join(", ")}`);
        }
      }
    },
  };
}
