/**
 * Helm installs the CRD from the chart's crds/ directory, untemplated. That copy must be the generated CRD, byte for
 * byte the repository's crds/ file (`npm run crd` writes both).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CRD_FILE, renderCrdYaml } from "../../../src/api/crd.ts";
import { CHART_DIR } from "../../support/helm.ts";

const repoCopy = () => readFileSync(new URL(`../../../${CRD_FILE}`, import.meta.url), "utf8");
const chartCopy = () => readFileSync(join(CHART_DIR, CRD_FILE), "utf8");

test(`charts/chunkgc/${CRD_FILE} is the generated CRD (run npm run crd after changing src/api)`, () => {
  assert.equal(chartCopy(), renderCrdYaml());
  assert.equal(chartCopy(), repoCopy());
});

test("the chart's crds/ holds only that CRD (Helm installs every file there)", () => {
  assert.deepEqual(readdirSync(join(CHART_DIR, "crds")), [CRD_FILE.replace(/^crds\//, "")]);
});
