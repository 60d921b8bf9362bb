/**
 * Scan results built from Clair v1 reports validate against the published schema
 * (`schemas/scan-result.schema.json`): a report from the emulator in Clair 2.x mode, one with Clair's
 * warnings, and the recorded Clair 2.1.0 answer with its Defcon1 severity and CVSS metadata.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { ClairReport } from "../../../src/clair/client.ts";
import { mapLayerReport } from "../../../src/clair/v1/map-report.ts";
import type { LayerEnvelope } from "../../../src/clair/v1/wire.ts";
import type { ResolvedImage } from "../../../src/image/resolved-image.ts";
import { createScanResult } from "../../../src/report/result.ts";
import { buildLayer, curlStanzas, debian11OsRelease, debian11Status } from "../../emulator/fixtures.ts";
import { resolveBuiltImage, startV1, targetOn, type V1Setup } from "./helpers.ts";

const schemaPath = path.resolve(import.meta.dirname, "../../../schemas/scan-result.schema.json");

function compileSchema(): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  (addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
  return ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")) as object);
}

/** The result `analyze` prints with `--format json`, as a consumer parses it. */
function toScanResultJson(image: ResolvedImage, report: ClairReport): unknown {
  return JSON.parse(JSON.stringify(createScanResult({ image, report, toolVersion: "0.0.0-test" })));
}

describe("scan results from Clair v1 reports match the schema", () => {
  let validate: ValidateFunction;
  let setup: V1Setup;
  before(async () => {
    validate = compileSchema();
    setup = await startV1();
  });
  after(() => setup.close());

  it("a two-layer Debian image with findings in both layers", async () => {
    const image = resolveBuiltImage(
      "schema/debian",
      [
        await buildLayer({ "etc/os-release": debian11OsRelease, "var/lib/dpkg/status": debian11Status }),
        await buildLayer({ "var/lib/dpkg/status": `${debian11Status}\n${curlStanzas}` }),
      ],
      setup.blobs,
    );
    await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
    const report = await setup.clair.report({ image });
    assert.ok(
      report.findings.some((f) => f.layerIndex === 1) && report.findings.some((f) => f.layerIndex === 0),
    );
    const json = toScanResultJson(image, report);
    assert.ok(validate(json), JSON.stringify(validate.errors, null, 2));
  });

  it("an image with no OS and no packages, carrying Clair's warnings", async () => {
    const image = resolveBuiltImage(
      "schema/empty",
      [await buildLayer({ "app/main": "binary\n" })],
      setup.blobs,
    );
    await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
    const report = await setup.clair.report({ image });
    assert.deepEqual(
      report.warnings.map((w) => w.code),
      ["no-distribution", "no-packages"],
    );
    const json = toScanResultJson(image, report);
    assert.ok(validate(json), JSON.stringify(validate.errors, null, 2));
  });

  it("the recorded Clair 2.1.0 answer (Defcon1, CVSS, an unfixed finding)", () => {
    const recorded = JSON.parse(
      readFileSync(new URL("./fixtures/clair-2.1.0-get-layer-child.json", import.meta.url), "utf8"),
    ) as LayerEnvelope;
    const image = resolveBuiltImage("schema/recorded", [], setup.blobs);
    const named: ResolvedImage = {
      ...image,
      layers: ["layer1-jessie", "layer2-child"].map((chainId, index) => ({
        index,
        digest: `sha256:${String(index + 1).repeat(64)}`,
        diffId: `sha256:${String(index + 1).repeat(64)}`,
        size: 100,
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        createdBy: undefined,
        chainId,
        location: { kind: "cache", path: "/dev/null" },
      })),
    };
    const mapped = mapLayerReport(recorded.Layer!, named);
    const report: ClairReport = { clair: { url: "http://127.0.0.1:6060", api: "v1" }, ...mapped };
    const json = toScanResultJson(named, report) as { findings: Array<{ vendorSeverity?: string }> };
    assert.ok(json.findings.some((f) => f.vendorSeverity === "Defcon1"));
    assert.ok(validate(json), JSON.stringify(validate.errors, null, 2));
  });
});
