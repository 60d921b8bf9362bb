/**
 * Standalone emulator: `npm run clair-emulator -- --api v1|v4 --port N [--health-port N] [--psk KEY]
 * [--split] [--host H]`. Prints one line with its URLs, logs each layer fetch to stderr.
 */
import { parseArgs } from "node:util";
import { type EmulatorApi, startEmulator } from "./index.ts";

const { values } = parseArgs({
  options: {
    api: { type: "string", default: "v4" },
    port: { type: "string", default: "0" },
    "health-port": { type: "string", default: "0" },
    psk: { type: "string" },
    "psk-issuer": { type: "string", multiple: true },
    split: { type: "boolean", default: false },
    host: { type: "string", default: "127.0.0.1" },
  },
  strict: true,
});

if (values.api !== "v1" && values.api !== "v4") {
  process.stderr.write(`--api must be v1 or v4, not ${values.api}\n`);
  process.exit(2);
}

const emulator = await startEmulator({
  api: values.api as EmulatorApi,
  host: values.host,
  port: Number(values.port),
  healthPort: Number(values["health-port"]),
  split: values.split,
  ...(values.psk !== undefined ? { psk: values.psk } : {}),
  ...(values["psk-issuer"] !== undefined ? { pskIssuers: values["psk-issuer"] } : {}),
  log: (line) => process.stderr.write(`${line}\n`),
});

process.stdout.write(
  emulator.api === "v1"
    ? `clair emulator v1 api=${emulator.url} health=${emulator.healthUrl}/health\n`
    : `clair emulator v4 indexer=${emulator.indexerUrl} matcher=${emulator.matcherUrl} introspection=${emulator.healthUrl}\n`,
);

const stop = () => {
  void emulator.close().then(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
