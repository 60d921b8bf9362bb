/**
 * Every image source to both Clair APIs, through the CLI as a user runs it: v1 × v4 × {plain, basic,
 * token registry} × {registry image, multi-layer image with whiteouts, multi-arch image with --platform},
 * plus daemon and OCI-archive images. The Clair emulator really downloads every layer, so the findings
 * prove the layers reached it; they are checked against the emulator's fixture feed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { ScanResult } from "../../src/report/model.ts";
import { freshDir, repoRoot, runCli } from "../cli/run-cli.ts";
import { type EmulatorApi, type RunningEmulator, startEmulator } from "../emulator/index.ts";
import { harnessEnv } from "../infra/env.ts";

const env = harnessEnv();
const { images } = env;

/** Vulnerability → [severity, fixed-in, layer that brought the package in the multi-layer image]. */
const debian11: Record<string, [string, string | null, number]> = {
  "CVE-2022-2068": ["High", "1.1.1n-0+deb11u4", 1],
  "CVE-2022-32221": ["Medium", "7.74.0-1.3+deb11u7", 1],
  "CVE-2022-37434": ["Critical", "1:1.2.11.dfsg-2+deb11u2", 0],
  "CVE-2022-3715": ["Low", null, 0],
  "CVE-2021-3999": ["Negligible", "2.31-13+deb11u4", 0],
};
const alpine315: Record<string, [string, string | null, number]> = {
  "CVE-2022-0778": ["High", "1.1.1n-r0", 0],
  "CVE-2018-25032": ["Critical", "1.2.12-r0", 0],
  "CVE-2022-28391": ["Medium", "1.34.1-r5", 0],
};

const validate = (() => {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  (addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
  return ajv.compile(
    JSON.parse(readFileSync(`${repoRoot}/schemas/scan-result.schema.json`, "utf8")) as object,
  );
})();

/** Findings by ID; v4 reports one per binary package of a source package, with the same answer. */
function findingsById(
  result: ScanResult,
  checkLayers: boolean,
): Record<string, [string, string | null, number]> {
  const byId: Record<string, [string, string | null, number]> = {};
  for (const finding of result.findings) {
    const entry: [string, string | null, number] = [
      finding.severity,
      finding.fixedIn,
      checkLayers ? (finding.layerIndex ?? -1) : 0,
    ];
    if (byId[finding.id]) assert.deepEqual(entry, byId[finding.id], `${finding.id} reported consistently`);
    byId[finding.id] = entry;
  }
  return byId;
}

type Expected = Record<string, [string, string | null, number]>;

function flattenLayers(expected: Expected): Expected {
  return Object.fromEntries(
    Object.entries(expected).map(([id, [severity, fixed]]) => [id, [severity, fixed, 0] as Expected[string]]),
  );
}

interface Case {
  name: string;
  args: string[];
  expected: Record<string, [string, string | null, number]>;
  checkLayers?: boolean;
  layers?: number;
  env?: Record<string, string>;
  stdin?: string;
}

const registries = [
  // Daemon and archive images need no registry: they run against a Clair of their own (v1 names layers
  // by chain ID, so a Clair that indexed the registry copy would rightly skip them).
  { kind: "local", host: "", login: undefined },
  { kind: "plain", host: env.registry, login: undefined },
  { kind: "basic", host: env.registryBasic, login: [env.user, env.pass] as const },
  { kind: "token", host: env.registryToken, login: [env.user, env.pass] as const },
] as const;

for (const api of ["v1", "v4"] as EmulatorApi[]) {
  for (const registry of registries) {
    describe(`${api} × ${registry.kind === "local" ? "daemon and archives" : `${registry.kind} registry`}`, () => {
      let clair: RunningEmulator;
      before(async () => {
        clair = await startEmulator({ api });
      });
      after(() => clair.close());

      const credentials = registry.login
        ? { args: ["--username", registry.login[0], "--password-stdin"], stdin: registry.login[1] }
        : { args: [], stdin: undefined };
      const cases: Case[] =
        registry.kind === "local"
          ? []
          : [
              {
                name: "registry image",
                args: [`${registry.host}/${images.images.debian11.refs.oci}`],
                expected: flattenLayers(debian11),
                layers: 1,
              },
              {
                name: "multi-layer image with whiteouts (schema 2)",
                args: [`${registry.host}/${images.images["debian11-multi"].refs.v2s2}`],
                expected: debian11,
                checkLayers: true,
                layers: 3,
              },
              {
                name: "multi-arch image with --platform linux/arm64",
                args: [`${registry.host}/${images.multiarch.refs.oci}`, "--platform", "linux/arm64"],
                expected: alpine315,
                layers: 1,
              },
            ];
      if (registry.kind === "local") {
        cases.push(
          {
            name: "daemon image (--local)",
            args: [images.images["debian11-multi"].refs.daemon, "--local"],
            expected: debian11,
            checkLayers: true,
            layers: 3,
            env: { DOCKER_HOST: env.dockerHost },
          },
          {
            name: "OCI archive",
            args: [`oci-archive:${images.images.alpine315.archives.oci}`],
            expected: alpine315,
            layers: 1,
          },
        );
      }
      for (const entry of cases) {
        test(entry.name, async () => {
          const fetchesBefore = clair.fetches.length;
          const args = ["analyze", ...entry.args, "--format", "json"];
          const withCredentials = entry.args[0]!.startsWith(registry.host)
            ? credentials
            : { args: [], stdin: undefined };
          const result = await runCli([...args, ...withCredentials.args], {
            env: {
              HYPERCLAIR_CLAIR_URL: clair.url,
              HYPERCLAIR_CACHE_DIR: freshDir("hc-cache-"),
              ...entry.env,
            },
            ...(withCredentials.stdin === undefined ? {} : { stdin: withCredentials.stdin }),
            timeoutMs: 120_000,
          });
          assert.equal(result.code, 0, result.stderr);
          const scan = JSON.parse(result.stdout) as ScanResult;
          assert.ok(validate(scan), JSON.stringify(validate.errors));
          assert.equal(scan.clair.api, api);
          assert.equal(scan.layers.length, entry.layers);
          assert.deepEqual(findingsById(scan, entry.checkLayers === true), entry.expected);
          // Clair downloaded every layer itself, from where hyperclair said, with the auth it was given.
          const fetched = clair.fetches.slice(fetchesBefore).filter((fetch) => fetch.ok);
          assert.equal(fetched.length, entry.layers);
          if (withCredentials.args.length > 0) {
            for (const fetch of fetched) {
              assert.ok(fetch.url.includes(registry.host), fetch.url);
              const authorization = fetch.headers["Authorization"] ?? fetch.headers["authorization"];
              assert.ok(authorization, "Clair was given the registry's Authorization");
            }
          }
        });
      }
    });
  }
}
