import type { Argv, CommandModule } from "yargs";
import { ClairError } from "../../errors.ts";
import { displayUrl } from "../../http/common.ts";
import { textOrJsonOption } from "../options.ts";
import { createContext, type GlobalArgs, type Runtime } from "../runtime.ts";
import { describeApi } from "../views/health-view.ts";

type VersionArgs = GlobalArgs & { format: "text" | "json" };

export function versionCommand(runtime: Runtime): CommandModule<GlobalArgs, VersionArgs> {
  return {
    command: "version",
    describe: "Print hyperclair's version and the Clair API flavour it finds",
    builder: (yargs: Argv<GlobalArgs>) =>
      textOrJsonOption(yargs)
        .example("$0 version", "Client version, and the API of the configured Clair when it answers")
        .example("$0 --version", "Client version only"),
    handler: async (argv) => {
      const { out, config } = createContext(argv, runtime);
      const { detectApi } = await import("../../clair/detect.ts");
      let clair: { url: string; api?: "v1" | "v4"; error?: string };
      try {
        const detected = await detectApi(config.clair, { debug: out.debug });
        clair = { url: detected.url, api: detected.api };
      } catch (error) {
        // The client version is still useful when Clair is down; say why Clair is missing.
        if (!(error instanceof ClairError)) throw error;
        clair = { url: displayUrl(config.clair.url), error: error.message };
      }
      if (argv.format === "json") {
        out.document(JSON.stringify({ hyperclair: runtime.version, node: process.version, clair }, null, 2));
        return;
      }
      const clairLine = clair.api
        ? `Clair:      ${describeApi(clair.api)} at ${clair.url}`
        : `Clair:      not reachable (${clair.error})`;
      out.document(
        [`hyperclair: ${runtime.version}`, `node:       ${process.version}`, clairLine].join("\n"),
      );
    },
  };
}
