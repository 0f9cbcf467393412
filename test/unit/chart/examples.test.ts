/**
 * Every example a user copies parses: GarbageCollections against the spec schema (the CRD's source), and the names
 * the docs type after `kubectl <verb>` are names the API server knows (the CRD's plural, singular, short names, or
 * built-in kinds).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { GarbageCollectionSpecSchema, KIND, PLURAL, SHORT_NAMES, SINGULAR } from "../../../src/api/index.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

function files(dir: string, ext: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(ext))
    .map((name) => join(dir, name));
}

describe("examples", () => {
  const yamlFiles = files("examples", ".yaml");
  it("covers what users ask for", () => {
    for (const name of [
      "minimal.yaml",
      "scheduled-time-zone.yaml",
      "dry-run-first.yaml",
      "existing-claim.yaml",
      "custom-ca.yaml",
      "aws-irsa.yaml",
      "one-shot.yaml",
      "flux/kustomization.yaml",
      "argocd/argocd-cm.yaml",
    ]) {
      assert.ok(yamlFiles.includes(join("examples", name)), name);
    }
  });
  for (const file of yamlFiles) {
    it(`${file} parses; its GarbageCollections are valid`, () => {
      const docs = parseAllDocuments(readFileSync(join(ROOT, file), "utf8"));
      for (const doc of docs) {
        assert.deepEqual(doc.errors, [], file);
        const object = doc.toJS() as { kind?: string; spec?: unknown };
        if (object.kind !== KIND) continue;
        const parsed = GarbageCollectionSpecSchema.safeParse(object.spec);
        assert.ok(parsed.success, `${file}: ${parsed.error?.message}`);
      }
    });
  }
  it("the IRSA example uses no Secret, so the engine takes the default chain", () => {
    const docs = parseAllDocuments(readFileSync(join(ROOT, "examples/aws-irsa.yaml"), "utf8")).map((d) => d.toJS());
    const gc = docs.find((d) => d.kind === KIND);
    const spec = GarbageCollectionSpecSchema.parse(gc.spec);
    assert.equal(spec.datastore.s3.credentialsSecretRef, undefined);
    assert.equal(spec.runPod.serviceAccountName, "pbs-gc");
  });
});

describe("docs", () => {
  const names = new Set<string>([PLURAL, SINGULAR, `${PLURAL}.chunkgc.io`, ...SHORT_NAMES]);
  const builtIn = new Set([
    "nodes",
    "events",
    "crd",
    "pods",
    "pvc",
    "jobs",
    "job",
    "secret",
    "lease",
    "leases",
    "deploy",
    "configmap",
  ]);
  const sources = ["README.md", ...files("docs", ".md"), ...files("examples", ".yaml"), ...files("charts", ".txt")];
  it("every resource name after kubectl exists", () => {
    const unknown: string[] = [];
    for (const file of sources) {
      const text = readFileSync(join(ROOT, file), "utf8");
      for (const match of text.matchAll(
        /kubectl(?: -n \S+)? (get|describe|explain|edit|annotate|patch|delete|wait) ([a-z][a-z.-]*)/g,
      )) {
        const name = match[2]!.split(".")[0] === SINGULAR ? SINGULAR : match[2]!;
        if (!names.has(name) && !builtIn.has(name)) unknown.push(`${file}: ${match[0]}`);
      }
    }
    assert.deepEqual(unknown, []);
  });
});
