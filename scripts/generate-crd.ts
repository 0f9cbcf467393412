/**
 * `npm run crd`: writes the GarbageCollection CRD generated from the zod schemas (src/api/crd.ts) to crds/ and to the
 * Helm chart (charts/chunkgc/files/crds/, the same bytes; templates/crd.yaml renders it). `npm run crd -- --check` only compares and exits 1 when
 * a file is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { CRD_FILE, renderCrdYaml } from "../src/api/crd.ts";

/** Every copy of the CRD in the repository; test/unit/chart/crd-copy.test.ts checks the chart's. */
const CRD_TARGETS = [CRD_FILE, `charts/chunkgc/files/${CRD_FILE}`];

const generated = renderCrdYaml();
let stale = false;
for (const file of CRD_TARGETS) {
  const target = new URL(`../${file}`, import.meta.url);
  if (process.argv.includes("--check")) {
    let current = "";
    try {
      current = readFileSync(target, "utf8");
    } catch {}
    if (current !== generated) {
      console.error(`${file} is stale: run npm run crd`);
      stale = true;
    }
  } else {
    writeFileSync(target, generated);
    console.error(`wrote ${file}`);
  }
}
if (stale) process.exit(1);
