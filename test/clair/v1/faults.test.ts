/**
 * The v1 client's failure paths and delete against the emulator in Clair 2.x mode, with small layers built
 * in the test: download failures, 422 refusals, retried 503s, answers that are not Clair's, deletes and the
 * shared-base-layer cascade.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SubmitProgress } from "../../../src/clair/client.ts";
import { LayerFetchError } from "../../../src/clair/errors.ts";
import { findSharedLayers, planLayerDeletion } from "../../../src/clair/v1/layer-sharing.ts";
import { ClairError, ExitCode, InterruptedError } from "../../../src/errors.ts";
import type { ResolvedImage } from "../../../src/image/resolved-image.ts";
import {
  buildLayer,
  curlStanzas,
  debian11OsRelease,
  debian11Status,
  dpkgStanza,
} from "../../emulator/fixtures.ts";
import { findClosedPort } from "../helpers.ts";
import { resolveBuiltImage, startV1, targetOn, type V1Setup } from "./helpers.ts";

/** A Debian layer no other test uses, so Clair has never seen it. */
const uniqueLayer = (marker: string) =>
  buildLayer({
    "etc/os-release": debian11OsRelease,
    "var/lib/dpkg/status": debian11Status,
    [`etc/${marker}`]: marker,
  });

const chainsOf = (image: ResolvedImage) => image.layers.map((l) => l.chainId);

/** Clair's stored view of one layer, read straight from the emulator. */
async function readLayer(
  url: string,
  name: string,
): Promise<{ status: number; parent?: string | undefined }> {
  const res = await fetch(`${url}/v1/layers/${encodeURIComponent(name)}`);
  const body = (await res.json()) as { Layer?: { ParentName?: string } };
  return { status: res.status, parent: body.Layer?.ParentName };
}

describe("Clair v1 client failures and delete", () => {
  let setup: V1Setup;
  let base: Buffer;
  let curlLayer: Buffer;
  let bashUpdate: Buffer;
  before(async () => {
    setup = await startV1();
    base = await buildLayer({ "etc/os-release": debian11OsRelease, "var/lib/dpkg/status": debian11Status });
    curlLayer = await buildLayer({ "var/lib/dpkg/status": `${debian11Status}\n${curlStanzas}` });
    bashUpdate = await buildLayer({
      "var/lib/dpkg/status": debian11Status.replace("Version: 5.1-2+deb11u1", "Version: 5.1-2+deb11u2"),
      "etc/os-release": debian11OsRelease,
    });
  });
  after(() => setup.close());

  it("a layer Clair cannot download is a LayerFetchError naming the layer and its URL (exit 3)", async () => {
    const image = resolveBuiltImage("fetch/unreachable", [base, curlLayer], setup.blobs);
    const closed = `http://127.0.0.1:${await findClosedPort()}/blobs/layer1`;
    const error = await setup.clair
      .submit({
        image,
        layerTarget: async (layer) =>
          layer.index === 0
            ? { url: setup.blobs.urlOf(layer.digest), headers: {} }
            : { url: closed, headers: {} },
      })
      .then(
        () => assert.fail("submit succeeded"),
        (e: unknown) => e,
      );
    assert.ok(error instanceof LayerFetchError, String(error));
    assert.equal(error.layerIndex, 1);
    assert.equal(error.layerUrl, closed);
    assert.equal(error.clairMessage, "could not find layer");
    assert.equal(error.exitCode, ExitCode.external);
    assert.match(error.message, /could not download layer 1 from http:\/\/127\.0\.0\.1:\d+\/blobs\/layer1/);
    // The base layer was indexed before the failure; the failed one was not.
    assert.equal((await readLayer(setup.emulator.url, image.layers[0]!.chainId)).status, 200);
    assert.equal((await readLayer(setup.emulator.url, image.layers[1]!.chainId)).status, 404);
  });

  it("a layer Clair refuses with 422 becomes a warning; the push goes on from the last indexed layer", async () => {
    const notATar = Buffer.from("this is not a tar archive, just some bytes\n".repeat(40));
    const image = resolveBuiltImage("refused/middle", [base, notATar, curlLayer], setup.blobs);
    const result = await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
    // The base layer is there from the test before.
    assert.equal(result.skipped, 1);
    assert.equal(result.submitted, 1);
    assert.equal(result.warnings.length, 1);
    assert.equal(result.warnings[0]!.code, "no-supported-os");
    assert.equal(result.warnings[0]!.layerIndex, 1);
    assert.match(result.warnings[0]!.message, /layer 1.*tarutil: could not extract the archive/);
    // The top layer stands on the base layer, the last one Clair indexed.
    assert.deepEqual(await readLayer(setup.emulator.url, image.layers[2]!.chainId), {
      status: 200,
      parent: image.layers[0]!.chainId,
    });
    assert.equal(await setup.clair.knows(image), true);
    // The report keeps the base layer's packages and says which layer Clair lacks.
    const report = await setup.clair.report({ image });
    assert.deepEqual(report.packages.map((p) => `${p.name} ${p.layerIndex}`).sort(), [
      "base-files 0",
      "bash 0",
      "curl 2",
      "glibc 0",
      "openssl 0",
      "zlib 0",
    ]);
    assert.ok(report.findings.some((f) => f.id === "CVE-2022-32221" && f.layerIndex === 2));
    assert.deepEqual(
      report.warnings.map((w) => [w.code, w.layerIndex]),
      [["no-supported-os", 1]],
    );
  });

  it("a base layer with packages but no OS is refused (422) and the next layer starts a new chain", async () => {
    const noOs = await buildLayer({ "var/lib/dpkg/status": dpkgStanza("bash", "5.1-2+deb11u1") });
    const image = resolveBuiltImage("refused/base", [noOs, base], setup.blobs);
    const result = await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
    assert.equal(result.submitted, 1);
    assert.deepEqual(
      result.warnings.map((w) => [w.code, w.layerIndex]),
      [["no-supported-os", 0]],
    );
    assert.match(result.warnings[0]!.message, /no supported OS or package manager/);
    assert.deepEqual(await readLayer(setup.emulator.url, image.layers[1]!.chainId), {
      status: 200,
      parent: undefined,
    });
  });

  it("a refused top layer: knows() is false, the report comes from the layer below and says so", async () => {
    const notATar = Buffer.from("not a tar either\n".repeat(64));
    const lower = await uniqueLayer("top-refused");
    const image = resolveBuiltImage("refused/top", [lower, notATar], setup.blobs);
    const result = await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
    assert.equal(result.submitted, 1);
    assert.deepEqual(
      result.warnings.map((w) => [w.code, w.layerIndex]),
      [["no-supported-os", 1]],
    );
    assert.equal(await setup.clair.knows(image), false);
    const report = await setup.clair.report({ image });
    assert.ok(report.findings.some((f) => f.id === "CVE-2022-37434" && f.layerIndex === 0));
    assert.deepEqual(
      report.warnings.map((w) => [w.code, w.layerIndex]),
      [["no-supported-os", 1]],
    );
    assert.match(report.warnings[0]!.message, /layer 1/);
  });

  it("503s from Clair are retried and the push completes", async () => {
    const image = resolveBuiltImage("retry/503", [bashUpdate], setup.blobs);
    const before = setup.emulator.requests.length;
    setup.emulator.setFaults({ errors: { status: 503, count: 2, route: "/v1/layers" } });
    const events: SubmitProgress[] = [];
    const result = await setup.clair.submit({
      image,
      layerTarget: targetOn(setup.blobs),
      onProgress: (e) => events.push(e),
    });
    setup.emulator.setFaults({});
    assert.deepEqual(result, { submitted: 1, skipped: 0, warnings: [] });
    const statuses = setup.emulator.requests.slice(before).map((r) => `${r.method} ${r.status}`);
    assert.deepEqual(statuses.slice(0, 3), ["GET 503", "GET 503", "GET 404"]);
    assert.ok(statuses.includes("POST 201"));
    assert.deepEqual(
      events.filter((e) => e.kind === "waiting").map((e) => (e.kind === "waiting" ? e.attempt : 0)),
      [2, 3],
    );
    assert.equal(await setup.clair.knows(image), true);
  });

  it("an answer that is not JSON is a ClairError (exit 3) naming the URL, not retried", async () => {
    const image = resolveBuiltImage("broken/proxy", [await uniqueLayer("proxy")], setup.blobs);
    const before = setup.emulator.requests.length;
    setup.emulator.setFaults({ nonJson: { count: 1 } });
    const error = await setup.clair.knows(image).then(
      () => assert.fail("knows succeeded"),
      (e: unknown) => e,
    );
    setup.emulator.setFaults({});
    assert.ok(error instanceof ClairError && !(error instanceof LayerFetchError), String(error));
    assert.equal(error.exitCode, ExitCode.external);
    assert.match(
      error.message,
      /^http:\/\/127\.0\.0\.1:\d+\/v1\/layers\/sha256%3A[0-9a-f]{64} answered HTTP 404 \(application\/json\) where Clair's v1 API answers JSON$/,
    );
    assert.match(error.hint ?? "", /clair\.url/);
    assert.equal(setup.emulator.requests.length - before, 1);
  });

  it("a parent deleted while the push runs is a ClairError with a hint", async () => {
    const image = resolveBuiltImage("race/parent", [base, bashUpdate], setup.blobs);
    await setup.clair.submit({
      image: { ...image, layers: image.layers.slice(0, 1) },
      layerTarget: targetOn(setup.blobs),
    });
    const error = await setup.clair
      .submit({
        image,
        layerTarget: async (layer) => {
          // Someone deletes the base layer between our check and our POST.
          await fetch(`${setup.emulator.url}/v1/layers/${encodeURIComponent(image.layers[0]!.chainId)}`, {
            method: "DELETE",
          });
          return { url: setup.blobs.urlOf(layer.digest), headers: {} };
        },
      })
      .then(
        () => assert.fail("submit succeeded"),
        (e: unknown) => e,
      );
    assert.ok(error instanceof ClairError, String(error));
    assert.match(error.message, /parent layer is not in Clair/);
    assert.match(error.hint ?? "", /push it again/);
  });

  it("report of an image Clair does not have is a ClairError that says to push it", async () => {
    const image = resolveBuiltImage("never/pushed", [await uniqueLayer("never"), curlLayer], setup.blobs);
    await assert.rejects(setup.clair.report({ image }), (e: unknown) => {
      assert.ok(e instanceof ClairError);
      assert.match(e.message, /Clair has no layer of never\/pushed/);
      assert.match(e.hint ?? "", /push/);
      return true;
    });
  });

  it("an aborted signal stops a submit before anything is sent", async () => {
    const image = resolveBuiltImage("aborted", [base, curlLayer, bashUpdate], setup.blobs);
    const controller = new AbortController();
    const calls: number[] = [];
    const before = setup.emulator.requests.length;
    controller.abort();
    await assert.rejects(
      setup.clair.submit({ image, layerTarget: targetOn(setup.blobs, calls), signal: controller.signal }),
      InterruptedError,
    );
    assert.deepEqual(calls, []);
    assert.equal(setup.emulator.requests.length, before);
  });

  it("delete removes the top layer: knows() turns false; a second delete finds it missing", async () => {
    const image = resolveBuiltImage("delete/top", [base, curlLayer], setup.blobs);
    await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
    assert.equal(await setup.clair.knows(image), true);
    const top = image.layers[1]!.chainId;
    assert.deepEqual(await setup.clair.delete({ image }), { deleted: [top], missing: [] });
    assert.equal(await setup.clair.knows(image), false);
    // The base layer stays: only the top was asked for.
    assert.equal((await readLayer(setup.emulator.url, image.layers[0]!.chainId)).status, 200);
    assert.deepEqual(await setup.clair.delete({ image }), { deleted: [], missing: [top] });
  });

  it("deleting a shared base layer removes the other image's layers too, which the sharing helper flags", async () => {
    const first = resolveBuiltImage("shared/first", [base, curlLayer], setup.blobs);
    const second = resolveBuiltImage("shared/second", [base, bashUpdate], setup.blobs);
    for (const image of [first, second])
      await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
    assert.equal(await setup.clair.knows(second), true);

    const shared = findSharedLayers(chainsOf(first), [0, 1], [chainsOf(second)]);
    assert.deepEqual(shared, [{ layerIndex: 0, chainId: first.layers[0]!.chainId, sharedWith: [0] }]);
    // The safe plan deletes only what is the first image's own.
    assert.deepEqual(planLayerDeletion(chainsOf(first), [chainsOf(second)]).layerIndexes, [1]);

    // Deleting every layer top-down reports each as deleted, and takes the second image with it.
    const result = await setup.clair.delete({ image: first, layerIndexes: [0, 1] });
    assert.deepEqual(result, { deleted: [first.layers[1]!.chainId, first.layers[0]!.chainId], missing: [] });
    assert.equal(await setup.clair.knows(first), false);
    assert.equal(
      await setup.clair.knows(second),
      false,
      "Clair deleted the second image's top layer with the base",
    );
  });

  it("the deletion plan leaves the other image intact", async () => {
    const first = resolveBuiltImage("plan/first", [base, curlLayer], setup.blobs);
    const second = resolveBuiltImage("plan/second", [base, bashUpdate], setup.blobs);
    for (const image of [first, second])
      await setup.clair.submit({ image, layerTarget: targetOn(setup.blobs) });
    const plan = planLayerDeletion(chainsOf(first), [chainsOf(second)]);
    const result = await setup.clair.delete({ image: first, layerIndexes: plan.layerIndexes });
    assert.deepEqual(result.deleted, [first.layers[1]!.chainId]);
    assert.equal(await setup.clair.knows(first), false);
    assert.equal(await setup.clair.knows(second), true);
    const report = await setup.clair.report({ image: second });
    assert.deepEqual(report.packages.map((p) => `${p.name} ${p.version} ${p.layerIndex}`).sort(), [
      "base-files 11.1+deb11u3 0",
      "bash 5.1-2+deb11u2 1",
      "glibc 2.31-13+deb11u3 0",
      "openssl 1.1.1n-0+deb11u3 0",
      "zlib 1:1.2.11.dfsg-2+deb11u1 0",
    ]);
  });

  it("delete refuses a layer index the image does not have", async () => {
    const image = resolveBuiltImage("delete/bad-index", [base], setup.blobs);
    await assert.rejects(setup.clair.delete({ image, layerIndexes: [3] }), (e: unknown) => {
      assert.ok(e instanceof Error && "exitCode" in e && e.exitCode === ExitCode.usage);
      return true;
    });
  });
});
