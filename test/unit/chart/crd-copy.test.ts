/**
 * The chart renders the CRD from files/crds/ (templates/crd.yaml, so that upgrades upgrade it). That copy must be the
 * generated CRD, byte for byte the repository's crds/ file (`npm run crd` writes both).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CRD_FILE, renderCrdYaml } from "../../../src/api/crd.ts";
import { CHART_DIR } from "../../support/helm.ts";

const repoCopy = () => readFileSync(new URL(`../../../${CRD_FILE}`, import.meta.url), "utf8");
const chartCopy = () => readFileSync(join(CHART_DIR, "files", CRD_FILE), "utf8");

test(`charts/chunkgc/files/${CRD_FILE} is the generated CRD (run npm run crd after changing src/api)`, () => {
  assert.equal(chartCopy(), renderCrdYaml());
  assert.equal(chartCopy(), repoCopy());
});

test("the chart has no crds/ directory (Helm would install it besides the template, and never upgrade it)", () => {
  assert.ok(!existsSync(join(CHART_DIR, "crds")));
  assert.deepEqual(readdirSync(join(CHART_DIR, "files", "crds")), [CRD_FILE.replace(/^crds\//, "")]);
});
