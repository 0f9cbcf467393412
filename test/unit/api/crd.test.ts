import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "yaml";
import {
  CRD_FILE,
  CrdSchemaError,
  garbageCollectionCrd,
  type JsonSchema,
  renderCrdYaml,
  toStructural,
  undescribedPaths,
} from "../../../src/api/crd.ts";
import {
  GarbageCollectionSpecSchema,
  SCHEDULE_FIVE_FIELDS_PATTERN,
  SCHEDULE_MACRO_PATTERN,
} from "../../../src/api/index.ts";

const crd = garbageCollectionCrd() as {
  spec: {
    names: { shortNames: string[]; categories: string[]; kind: string };
    versions: {
      name: string;
      subresources: { status: object };
      additionalPrinterColumns: { name: string; type: string; jsonPath: string }[];
      schema: { openAPIV3Schema: JsonSchema };
    }[];
  };
};
const version = crd.spec.versions[0]!;
const root = version.schema.openAPIV3Schema;

function at(path: string): JsonSchema {
  let node: JsonSchema = root;
  for (const part of path.split(".")) {
    const properties = node.properties as Record<string, JsonSchema> | undefined;
    const next = properties?.[part];
    assert.ok(next, `no property ${part} in ${path}`);
    node = next;
  }
  return node;
}

function rules(path: string): { rule: string; message: string }[] {
  return (at(path)["x-kubernetes-validations"] ?? []) as { rule: string; message: string }[];
}

/** Walks every schema node with its path. */
function walk(node: JsonSchema, visit: (node: JsonSchema, path: string) => void, path = "$"): void {
  visit(node, path);
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)) {
    walk(child, visit, `${path}.${name}`);
  }
  if (typeof node.additionalProperties === "object") walk(node.additionalProperties as JsonSchema, visit, `${path}.*`);
  if (typeof node.items === "object") walk(node.items as JsonSchema, visit, `${path}[]`);
}

/** The API server's structural defaulting (defaults of absent fields, recursing into present objects). */
function applyDefaults(value: unknown, schema: JsonSchema): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)) {
    if (out[name] === undefined && child.default !== undefined) out[name] = structuredClone(child.default);
    if (out[name] !== undefined) out[name] = applyDefaults(out[name], child);
  }
  return out;
}

describe("GarbageCollection CRD", () => {
  it(`${CRD_FILE} is what npm run crd generates (run it after changing src/api)`, () => {
    const onDisk = readFileSync(new URL(`../../../${CRD_FILE}`, import.meta.url), "utf8");
    assert.equal(onDisk, renderCrdYaml());
  });

  it("round-trips through YAML unchanged", () => {
    assert.deepEqual(parse(renderCrdYaml()), crd);
  });

  it("has a description on every property", () => {
    assert.deepEqual(undescribedPaths(root), []);
    let described = 0;
    walk(root, (node) => {
      if (typeof node.description === "string") described += 1;
    });
    assert.ok(described > 100, `only ${described} described nodes`);
  });

  it("is structural: a type everywhere, no unions, no refs, no additionalProperties beside properties", () => {
    walk(root, (node, path) => {
      for (const key of ["$ref", "anyOf", "oneOf", "allOf", "not", "$schema", "const", "nullable"]) {
        assert.ok(!(key in node), `${path} has ${key}`);
      }
      const special = node["x-kubernetes-int-or-string"] === true || node["x-kubernetes-preserve-unknown-fields"];
      if (!special) assert.equal(typeof node.type, "string", `${path} has no type`);
      if ("properties" in node) assert.ok(!("additionalProperties" in node), `${path} mixes properties`);
      if (node.type === "integer") {
        assert.ok(node.maximum === undefined || (node.maximum as number) < Number.MAX_SAFE_INTEGER, path);
      }
    });
  });

  it("defaults in the CRD equal the zod defaults", () => {
    const minimal = {
      datastore: {
        s3: { endpoint: "https://s3.example", bucket: "pbs", store: "store1", credentialsSecretRef: { name: "s" } },
      },
      markerCache: { volumeClaimTemplate: {} },
    };
    assert.deepEqual(applyDefaults(minimal, at("spec")), GarbageCollectionSpecSchema.parse(minimal));
  });

  it("serves v1alpha1 with a status subresource, short name and categories", () => {
    assert.equal(version.name, "v1alpha1");
    assert.deepEqual(version.subresources, { status: {} });
    assert.deepEqual(crd.spec.names.shortNames, ["chunkgc"]);
    assert.ok(crd.spec.names.categories.length > 0);
    assert.equal(crd.spec.names.kind, "GarbageCollection");
  });

  it("has the printer columns of the issue, each pointing at a field of the schema", () => {
    const names = version.additionalPrinterColumns.map((column) => column.name);
    for (const name of ["Ready", "Active", "Schedule", "Suspended", "Last Run", "Result", "Removed", "Pending"]) {
      assert.ok(names.includes(name), name);
    }
    assert.ok(names.includes("Next Run") && names.includes("Age"));
    const nextRun = version.additionalPrinterColumns.find((column) => column.name === "Next Run");
    assert.equal(nextRun?.type, "string", "a date column shows a future time as <invalid>");
    assert.equal(nextRun?.jsonPath, ".status.nextScheduleTimeLocal", "in the resource's time zone");
    for (const column of version.additionalPrinterColumns) {
      if (column.jsonPath.startsWith(".metadata.")) continue;
      const filtered = /^\.(.+)\[\?\(@\.type=="[A-Za-z]+"\)\]\.(\w+)$/.exec(column.jsonPath);
      if (filtered) {
        // A condition filter: the list's items have the printed field.
        const items = at(filtered[1]!).items as JsonSchema;
        assert.ok((items.properties as Record<string, unknown>)[filtered[2]!], column.jsonPath);
        continue;
      }
      assert.ok(at(column.jsonPath.slice(1)), column.jsonPath);
    }
  });

  it("marks the datastore identity immutable", () => {
    for (const field of ["endpoint", "bucket", "store"]) {
      assert.deepEqual(
        rules(`spec.datastore.s3.${field}`).map((rule) => rule.rule),
        ["self == oldSelf"],
        field,
      );
    }
    assert.deepEqual(rules("spec.datastore.s3.region"), []);
  });

  it("requires exactly one marker cache option", () => {
    assert.deepEqual(
      rules("spec.markerCache").map((rule) => rule.rule),
      ["has(self.claimName) != has(self.volumeClaimTemplate)"],
    );
  });

  it("checks the schedule's field count with CEL, using the patterns zod uses", () => {
    const [rule] = rules("spec.schedule");
    assert.ok(rule);
    // The CEL string literal escapes backslashes; unescaped, it must be the patterns the schema module tests below.
    const literals = [...rule.rule.matchAll(/'([^']*)'/g)].map((match) => match[1]!.replaceAll("\\\\", "\\"));
    assert.deepEqual(literals, [SCHEDULE_MACRO_PATTERN, SCHEDULE_FIVE_FIELDS_PATTERN]);
    const accepts = (schedule: string) => literals.some((pattern) => new RegExp(pattern).test(schedule));
    for (const ok of ["30 3 * * *", "*/5 * * * 1-5", "@daily", "@hourly", "@weekly", "@monthly", "@yearly"]) {
      assert.ok(accepts(ok), ok);
    }
    for (const bad of ["0 30 3 * * *", "3 * * *", "@reboot", " 30 3 * * *", "", "@daily 1"]) {
      assert.ok(!accepts(bad), bad);
    }
  });

  it("bounds the durations with CEL", () => {
    assert.match(rules("spec.gracePeriod")[0]!.rule, /duration\('1m'\).*duration\('48h'\)/);
    assert.equal(at("spec.gracePeriod").default, "24h5m");
    assert.equal(at("spec.maxBackupDuration").default, "48h");
  });

  it("limits names to 63 characters and history to 10 entries", () => {
    assert.equal(at("metadata.name").maxLength, 63);
    assert.equal(at("status.history").maxItems, 10);
    assert.equal(at("spec.engine.deleteBatchSize").maximum, 1000);
  });

  it("makes conditions a list map keyed by type", () => {
    const conditions = at("status.conditions");
    assert.equal(conditions["x-kubernetes-list-type"], "map");
    assert.deepEqual(conditions["x-kubernetes-list-map-keys"], ["type"]);
  });

  it("keeps int-or-string quantities and pass-through affinity", () => {
    const quantity = (at("spec.runPod.resources.requests").additionalProperties ?? {}) as JsonSchema;
    assert.equal(quantity["x-kubernetes-int-or-string"], true);
    assert.ok(!("type" in quantity));
    assert.equal(at("spec.runPod.affinity")["x-kubernetes-preserve-unknown-fields"], true);
  });

  const rejected: [string, JsonSchema, RegExp][] = [
    ["a $ref", { type: "object", properties: { a: { $ref: "#/x", description: "d" } } }, /\$\.a: \$ref/],
    ["a nullable union", { anyOf: [{ type: "string" }, { type: "null" }] }, /unions/],
    ["a node without type", { description: "x" }, /type/],
    ["an object without properties", { type: "object" }, /properties/],
    ["an array without items", { type: "array" }, /items/],
  ];
  for (const [name, schema, message] of rejected) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => toStructural(schema),
        (error: unknown) => {
          assert.ok(error instanceof CrdSchemaError);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it("finds undescribed properties", () => {
    const schema = {
      type: "object",
      properties: {
        a: { type: "string", description: "A" },
        b: { type: "object", description: "B", properties: { c: { type: "string" } } },
        d: { type: "array", description: "D", items: { type: "object", properties: {} } },
      },
    };
    assert.deepEqual(undescribedPaths(schema), ["$.b.c", "$.d[]"]);
  });
});
