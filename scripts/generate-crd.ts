/**
 * `npm run crd`: writes the GarbageCollection CRD generated from the zod schemas (src/api/crd.ts) to crds/.
 * `npm run crd -- --check` only compares and exits 1 when the file is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { CRD_FILE, renderCrdYaml } from "../src/api/crd.ts";

const target = new URL(`../${CRD_FILE}`, import.meta.url);
const generated = renderCrdYaml();
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {}
  if (current !== generated) {
    console.error(`${CRD_FILE} is stale: run npm run crd`);
    process.exit(1);
  }
} else {
  writeFileSync(target, generated);
  console.error(`wrote ${CRD_FILE}`);
}
