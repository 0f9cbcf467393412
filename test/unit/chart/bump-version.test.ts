/** scripts/bump-version.ts sets the chart's version and appVersion together with the package's, nothing else. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parse } from "yaml";
import { bumpChart, bumpPackageJson } from "../../../scripts/bump-version.ts";

test("the chart's version and appVersion move together; comments stay", () => {
  const chart = readFileSync(new URL("../../../charts/chunkgc/Chart.yaml", import.meta.url), "utf8");
  const bumped = bumpChart(chart, "1.4.0-rc.1");
  const parsed = parse(bumped) as { version: string; appVersion: string; name: string };
  assert.deepEqual([parsed.version, parsed.appVersion, parsed.name], ["1.4.0-rc.1", "1.4.0-rc.1", "chunkgc"]);
  assert.equal(bumped.split("\n").length, chart.split("\n").length);
  assert.ok(bumped.includes("# The chart is released with the application"));
  assert.throws(() => bumpChart("name: x\n", "1.0.0"), /expected one version and one appVersion/);
});

test("package.json and the lock's root entry", () => {
  const lock = JSON.stringify({ name: "chunkgc", version: "0.1.0", packages: { "": { version: "0.1.0" }, x: {} } });
  const out = JSON.parse(bumpPackageJson(lock, "2.0.0"));
  assert.equal(out.version, "2.0.0");
  assert.equal(out.packages[""].version, "2.0.0");
  assert.deepEqual(out.packages.x, {});
});
