import type { Argv, CommandModule } from "yargs";
import { ExitCode } from "../../errors.ts";
import { textOrJsonOption } from "../options.ts";
import { createContext, type GlobalArgs, type Runtime } from "../runtime.ts";
import { renderHealth } from "../views/health-view.ts";

type HealthArgs = GlobalArgs & { format: "text" | "json" };

export function healthCommand(runtime: Runtime): CommandModule<GlobalArgs, HealthArgs> {
  return {
    command: "health",
    describe: "Check that Clair answers, which API it speaks, and what its health endpoint says",
    builder: (yargs: Argv<GlobalArgs>) =>
      textOrJsonOption(yargs)
        .example("$0 health", "Check the Clair configured in .hyperclair.yml")
        .example("$0 health --clair-url http://clair:6060 --format json", "Machine-readable health for CI")
        .epilogue("Exits 0 when Clair is reachable and healthy, 3 otherwise."),
    handler: async (argv) => {
      const { out, config } = createContext(argv, runtime);
      const { connectClair } = await import("../../clair/index.ts");
      const clair = await connectClair(config.clair, { debug: out.debug });
      const health = await clair.health();
      out.document(argv.format === "json" ? JSON.stringify(health, null, 2) : renderHealth(health, out));
      if (!health.healthy) {
        // One line with the first failure's reason: what CI logs show when the step fails.
        const failed = health.checks.find((check) => !check.ok);
        const reason = failed ? ` — ${failed.name}: ${failed.detail}` : "";
        out.error(`Clair at ${health.apiUrl} is not healthy${reason}`);
        runtime.exitCode = ExitCode.external;
      }
    },
  };
}
