/**
 * The entry point and the single error boundary: the only place that catches, maps errors to exit
 * codes and exits. `--version` and `--help` are answered before yargs (and everything else) loads,
 * because start-up time is part of the product.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { ExitCode, HyperclairError, InterruptedError } from "../errors.ts";
import { readHelpCache } from "./help-cache.ts";
import { shouldUseColor } from "./output.ts";

const args = process.argv.slice(2);
const packageJson = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};
const version = packageJson.version;

function answerWithoutParser(argv: string[]): string | undefined {
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) return `${version}\n`;
  return readHelpCache(argv, process.stdout.isTTY ? process.stdout.columns : undefined);
}

const fast = answerWithoutParser(args);
if (fast !== undefined) {
  process.stdout.write(fast);
} else {
  await run(args);
}

async function run(argv: string[]): Promise<void> {
  const controller = new AbortController();
  const runtime = {
    version,
    env: process.env,
    cwd: process.cwd(),
    home: homedir(),
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    signal: controller.signal,
    exitCode: ExitCode.ok as number,
  };
  const debug = argv.includes("--debug");
  // Decided before yargs parses, so that a usage error is coloured the way the command's output would be.
  const colorFlag = argv.includes("--no-color") ? false : argv.includes("--color") ? true : undefined;
  const colorOn = shouldUseColor(colorFlag, process.env, process.stderr.isTTY === true);
  const red = (text: string) => (colorOn ? `\u001b[31m${text}\u001b[39m` : text);

  const interrupt = () => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    // Commands watch the signal and clean up (layer server, temp files); give them a moment.
    controller.abort(new InterruptedError());
    setTimeout(() => process.exit(ExitCode.interrupted), 5000).unref();
  };
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);

  try {
    const { buildParser } = await import("./parser.ts");
    await buildParser(runtime).parseAsync(argv);
    process.exitCode = controller.signal.aborted ? ExitCode.interrupted : runtime.exitCode;
  } catch (error) {
    if (controller.signal.aborted) {
      process.stderr.write(`${red("error:")} interrupted\n`);
      process.exitCode = ExitCode.interrupted;
      return;
    }
    if (error instanceof HyperclairError) {
      const hint = error.hint ? ` — ${error.hint}` : "";
      process.stderr.write(`${red("error:")} ${error.message}${hint}\n`);
      if (debug) {
        for (const line of error.debug) process.stderr.write(`debug: ${line}\n`);
        process.stderr.write(`${describeStack(error)}\n`);
      }
      process.exitCode = error.exitCode;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `${red("error:")} unexpected failure: ${message}${debug ? "" : " — run with --debug for details"}\n`,
    );
    if (debug) process.stderr.write(`${describeStack(error)}\n`);
    process.exitCode = ExitCode.external;
  } finally {
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
  }
}

function describeStack(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  while (current instanceof Error) {
    lines.push(current.stack ?? `${current.name}: ${current.message}`);
    current = current.cause;
    if (current) lines.push("caused by:");
  }
  return lines.join("\n");
}
