import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { ClairReport } from "../../src/clair/client.ts";
import type { ResolvedImage } from "../../src/image/resolved-image.ts";
import type { ScanResult, SuppressedFinding } from "../../src/report/model.ts";
import { createScanResult } from "../../src/report/result.ts";
import { makeV4Client, startBlobServer, testImage } from "../clair/v4/helpers.ts";
import { buildLayer, sha256 } from "../emulator/fixtures.ts";
import { type RunningEmulator, startEmulator } from "../emulator/index.ts";
import type { TestImageName } from "../infra/env.ts";

const schemaPath = path.resolve(import.meta.dirname, "../../schemas/scan-result.schema.json");

function compileSchema(): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  (addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
  return ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")) as object);
}

/** A ScanResult the way `analyze` assembles one from the image and Clair's report. */
function buildScanResult(
  image: ResolvedImage,
  report: ClairReport,
  suppressed: SuppressedFinding[] = [],
): ScanResult {
  const kept = report.findings.filter((f) => !suppressed.some((s) => s.finding === f));
  const result = createScanResult({
    image,
    report: { ...report, findings: kept },
    toolVersion: "0.0.0-test",
  });
  return { ...result, suppressed };
}

/** What a consumer of `--format json` sees: undefined keys are gone. */
function asJson(result: ScanResult): Record<string, unknown> {
  return JSON.parse(JSON.stringify(result)) as Record<string, unknown>;
}

function explain(validate: ValidateFunction): string {
  return JSON.stringify(validate.errors, null, 2);
}

describe("schemas/scan-result.schema.json", () => {
  let validate: ValidateFunction;
  let clair: RunningEmulator;
  let blobs: Awaited<ReturnType<typeof startBlobServer>>;
  const results = new Map<string, ScanResult>();
  const names: TestImageName[] = ["debian11", "debian11-multi", "debian12", "alpine315", "alpine315-arm64"];

  before(async () => {
    validate = compileSchema();
    const images = new Map<string, ResolvedImage>();
    for (const name of names) {
      images.set(name, await testImage(name));
      images.set(`${name}:tar`, await testImage(name, "tar"));
    }
    blobs = await startBlobServer([...images.values()]);
    clair = await startEmulator({ api: "v4" });
    const client = makeV4Client(clair);
    for (const [key, image] of images) {
      await client.submit({ image, layerTarget: blobs.layerTarget() });
      const report = await client.report({ image });
      // An ignore rule suppresses the first finding, as the policy would.
      const first = report.findings[0]!;
      results.set(
        key,
        buildScanResult(image, report, [{ finding: first, rule: `${first.id}: test ignore` }]),
      );
    }
  });
  after(async () => {
    await clair.close();
    await blobs.close();
  });

  it("compiles under ajv's strict 2020-12 mode", () => {
    assert.equal(typeof validate, "function");
  });

  for (const name of names) {
    for (const form of ["registry", "daemon"] as const) {
      it(`accepts the ScanResult built from Clair v4's report of ${name} (${form} form)`, () => {
        const result = results.get(form === "daemon" ? `${name}:tar` : name)!;
        assert.ok(result.findings.length > 0 && result.suppressed.length === 1);
        assert.ok(result.findings.some((f) => f.fixedIn !== null) || name === "debian12");
        assert.equal(validate(asJson(result)), true, explain(validate));
      });
    }
  }

  it("accepts findings without a fix, without CVSS and without a vendor severity", () => {
    const result = results.get("debian11")!;
    const bash = result.findings.find((f) => f.package === "bash")!;
    assert.equal(bash.fixedIn, null);
    const alpine = results.get("alpine315")!;
    assert.ok(alpine.findings.every((f) => f.vendorSeverity === undefined && f.cvss === undefined));
    assert.equal(validate(asJson(result)), true, explain(validate));
    assert.equal(validate(asJson(alpine)), true, explain(validate));
  });

  it("accepts the warnings Clair's answers produce: matcher not ready, no packages, no distribution", async () => {
    const image = await testImage("debian12");
    const waiting = makeV4Client(
      clair,
      {},
      { matcherWait: { maxWaitMs: 100, initialDelayMs: 20, maxDelayMs: 50 } },
    );
    clair.setFaults({ matcherNotReady: { forMs: 5_000 } });
    let notReady: ClairReport;
    try {
      notReady = await waiting.report({ image });
    } finally {
      clair.setFaults({});
    }
    assert.deepEqual(
      notReady.warnings.map((w) => w.code),
      ["matcher-not-ready"],
    );
    assert.equal(validate(asJson(buildScanResult(image, notReady))), true, explain(validate));

    // A layer with no OS and no package database: Clair indexes it and finds nothing.
    const dir = await mkdtemp(path.join(tmpdir(), "hyperclair-schema-"));
    try {
      const bytes = await buildLayer({ "app/hello.txt": "hello\n" });
      const file = path.join(dir, "layer.tar.gz");
      await writeFile(file, bytes);
      const digest = sha256(bytes);
      const empty: ResolvedImage = {
        ...image,
        reference: "127.0.0.1:5000/test/empty:latest",
        digest: sha256("an image with no packages"),
        layers: [
          {
            index: 0,
            digest,
            diffId: digest,
            size: bytes.length,
            mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
            createdBy: undefined,
            chainId: digest,
            location: { kind: "cache", path: file },
          },
        ],
      };
      const server = await startBlobServer([empty]);
      try {
        const client = makeV4Client(clair);
        await client.submit({ image: empty, layerTarget: server.layerTarget() });
        const report = await client.report({ image: empty });
        assert.deepEqual(
          report.warnings.map((w) => w.code),
          ["no-packages", "no-distribution"],
        );
        assert.deepEqual(report.findings, []);
        const result = buildScanResult(empty, report);
        assert.equal(validate(asJson(result)), true, explain(validate));
        assert.equal(
          (asJson(result)["layers"] as Array<Record<string, unknown>>)[0]!["createdBy"],
          undefined,
        );
      } finally {
        await server.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects results that break the contract", () => {
    const good = asJson(results.get("debian11-multi")!);
    const broken: Array<[string, (r: Record<string, unknown>) => void]> = [
      ["another schema version", (r) => (r["schemaVersion"] = "2.0")],
      ["an unknown severity", (r) => (findingsOf(r)[0]!["severity"] = "Severe")],
      ["a finding without an id", (r) => delete findingsOf(r)[0]!["id"]],
      ["a finding without fixedIn (null means no fix)", (r) => delete findingsOf(r)[0]!["fixedIn"]],
      ["a negative layer index", (r) => (findingsOf(r)[0]!["layerIndex"] = -1)],
      ["an unknown key", (r) => (r["extra"] = true)],
      ["an unknown warning code", (r) => (r["warnings"] = [{ code: "odd", message: "odd" }])],
      ["a digest that is not one", (r) => ((r["image"] as Record<string, unknown>)["digest"] = "latest")],
      ["a CVSS score above 10", (r) => (findingsOf(r)[0]!["cvss"] = { version: "3.1", score: 11 })],
      [
        "missing summary counts",
        (r) =>
          delete ((r["summary"] as Record<string, unknown>)["bySeverity"] as Record<string, unknown>)["High"],
      ],
    ];
    assert.equal(validate(good), true, explain(validate));
    for (const [what, breakIt] of broken) {
      const copy = structuredClone(good);
      breakIt(copy);
      assert.equal(validate(copy), false, `accepted ${what}`);
    }
  });
});

function findingsOf(result: Record<string, unknown>): Array<Record<string, unknown>> {
  return result["findings"] as Array<Record<string, unknown>>;
}
