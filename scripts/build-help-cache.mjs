// Renders every command's --help with the real parser into dist/cli/help/, read by the CLI's fast path.
import { mkdirSync, writeFileSync } from "node:fs";
import { helpCacheKey } from "../dist/cli/help-cache.js";
import { buildParser, commandPaths } from "../dist/cli/parser.js";

const dir = new URL("../dist/cli/help/", import.meta.url);
mkdirSync(dir, { recursive: true });
const runtime = {
  version: "0.0.0",
  env: {},
  cwd: process.cwd(),
  home: process.cwd(),
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  signal: new AbortController().signal,
  exitCode: 0,
};
for (const path of [[], ...commandPaths]) {
  const argv = [...path, "--help"];
  const output = await new Promise((resolve, reject) => {
    buildParser(runtime, { interactive: false }).parse(argv, {}, (error, _argv, text) =>
      error ? reject(error) : resolve(text),
    );
  });
  writeFileSync(new URL(`${helpCacheKey(argv)}.txt`, dir), `${output}\n`);
}
