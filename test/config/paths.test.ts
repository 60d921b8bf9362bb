import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../../src/config/load.ts";
import { resolveCacheDir } from "../../src/config/paths.ts";

const defaults = loadConfig({ cwd: "/nonexistent", home: "/home/u", env: {}, flags: {} }).config;

test("the layer cache: cache.dir, else $XDG_CACHE_HOME/hyperclair (absolute only), else ~/.cache/hyperclair", () => {
  assert.equal(resolveCacheDir(defaults, {}, "/home/u"), "/home/u/.cache/hyperclair");
  assert.equal(
    resolveCacheDir(defaults, { XDG_CACHE_HOME: "/var/cache/u" }, "/home/u"),
    "/var/cache/u/hyperclair",
  );
  assert.equal(
    resolveCacheDir(defaults, { XDG_CACHE_HOME: "relative/cache" }, "/home/u"),
    "/home/u/.cache/hyperclair",
  );
  const configured = { ...defaults, cache: { dir: "/srv/hc-cache" } };
  assert.equal(resolveCacheDir(configured, { XDG_CACHE_HOME: "/var/cache/u" }, "/home/u"), "/srv/hc-cache");
});
