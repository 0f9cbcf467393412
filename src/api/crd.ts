import { stringify } from "yaml";
import { z } from "zod";
import { CATEGORIES, CRD_NAME, GROUP, KIND, LIST_KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from "./group.ts";
import { GarbageCollectionSpecSchema } from "./spec.ts";
import { GarbageCollectionStatusSchema } from "./status.ts";

/**
 * The apiextensions.k8s.io/v1 CustomResourceDefinition of GarbageCollection, generated from the zod schemas
 * (`npm run crd` writes it to crds/; a unit test fails when the file drifts). zod's JSON Schema is made structural
 * here: no $ref, no anyOf/oneOf, no additionalProperties beside properties, int-or-string and preserve-unknown-fields
 * as Kubernetes spells them, and a description on every property.
 */

export const CRD_FILE = `crds/${GROUP}_${PLURAL}.yaml`;

export type JsonSchema = { [key: string]: unknown };

/** A schema node Kubernetes would reject or that lacks what we require; names the JSON path. */
export class CrdSchemaError extends Error {
  readonly path: string;
  constructor(path: string, problem: string) {
    super(`CRD schema at ${path}: ${problem}`);
    this.name = "CrdSchemaError";
    this.path = path;
  }
}

const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const LEADING_KEYS = ["description", "type", "format"];
const TRAILING_KEYS = ["properties", "additionalProperties", "items", "required", "x-kubernetes-validations"];

/** Description and type first, children and rules last: the order a reader of the YAML expects. */
function ordered(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const key of LEADING_KEYS) if (key in node) out[key] = node[key];
  for (const [key, value] of Object.entries(node)) {
    if (!LEADING_KEYS.includes(key) && !TRAILING_KEYS.includes(key)) out[key] = value;
  }
  for (const key of TRAILING_KEYS) if (key in node) out[key] = node[key];
  return out;
}

/** Rewrites one zod-generated JSON Schema node (and its children) into a Kubernetes structural schema node. */
export function toStructural(node: JsonSchema, path = "$"): JsonSchema {
  return ordered(rewrite(node, path));
}

function rewrite(node: JsonSchema, path: string): JsonSchema {
  const out: JsonSchema = { ...node };
  delete out.$schema;
  for (const forbidden of ["$ref", "$defs", "definitions", "allOf", "not"]) {
    if (forbidden in out) throw new CrdSchemaError(path, `${forbidden} is not allowed in a structural schema`);
  }
  if (out["x-kubernetes-int-or-string"] === true) {
    delete out.anyOf;
    delete out.oneOf;
    delete out.type;
    return out;
  }
  if ("anyOf" in out || "oneOf" in out) throw new CrdSchemaError(path, "unions are only allowed as int-or-string");
  if (out.nullable === true)
    throw new CrdSchemaError(path, "nullable fields break merge-patch semantics; use optional");
  if ("const" in out) {
    out.enum = [out.const];
    delete out.const;
  }
  if (out["x-kubernetes-preserve-unknown-fields"] === true) {
    out.type = "object";
    delete out.additionalProperties;
    delete out.propertyNames;
    return out;
  }
  if (typeof out.type !== "string") throw new CrdSchemaError(path, "every node needs a type");
  if (out.type === "integer" || out.type === "number") {
    if (typeof out.minimum === "number" && SAFE_INTEGER_BOUNDS.has(Math.abs(out.minimum))) delete out.minimum;
    if (typeof out.maximum === "number" && SAFE_INTEGER_BOUNDS.has(Math.abs(out.maximum))) delete out.maximum;
    if (out.type === "integer") out.format = "int64";
  }
  if (out.type === "string" && out.format === "date-time") delete out.pattern;
  if (out.type === "object") {
    delete out.propertyNames;
    if (isObject(out.properties)) {
      delete out.additionalProperties;
      const properties: JsonSchema = {};
      for (const [name, child] of Object.entries(out.properties)) {
        if (!isObject(child)) throw new CrdSchemaError(`${path}.${name}`, "not a schema");
        properties[name] = toStructural(child, `${path}.${name}`);
      }
      out.properties = properties;
    } else if (isObject(out.additionalProperties)) {
      out.additionalProperties = toStructural(out.additionalProperties, `${path}.*`);
    } else {
      throw new CrdSchemaError(path, "an object needs properties, additionalProperties or preserve-unknown-fields");
    }
  }
  if (out.type === "array") {
    if (!isObject(out.items)) throw new CrdSchemaError(path, "an array needs items");
    out.items = toStructural(out.items, `${path}[]`);
  }
  return out;
}

/** JSON paths of every property (and every object-typed array item) without a description; root metadata excepted. */
export function undescribedPaths(node: JsonSchema, path = "$"): string[] {
  const missing: string[] = [];
  const visit = (current: JsonSchema, at: string, needsDescription: boolean) => {
    if (needsDescription && (typeof current.description !== "string" || current.description.trim() === "")) {
      missing.push(at);
    }
    if (isObject(current.properties)) {
      for (const [name, child] of Object.entries(current.properties)) {
        if (at === "$" && name === "metadata") continue; // Kubernetes forbids descriptions there
        if (isObject(child)) visit(child, `${at}.${name}`, true);
      }
    }
    if (isObject(current.additionalProperties)) visit(current.additionalProperties, `${at}.*`, false);
    if (isObject(current.items)) visit(current.items, `${at}[]`, current.items.type === "object");
  };
  visit(node, path, false);
  return missing;
}

function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: "input", target: "openapi-3.0", unrepresentable: "throw" }) as JsonSchema;
}

/** The openAPIV3Schema of the served version. */
export function garbageCollectionOpenApiSchema(): JsonSchema {
  const root: JsonSchema = {
    type: "object",
    description:
      "GarbageCollection deletes the chunks of a Proxmox Backup Server datastore on S3 that no backup references " +
      "any more, on a schedule, one run at a time per datastore, with the counters PBS reports in its status.",
    required: ["spec"],
    properties: {
      apiVersion: {
        type: "string",
        description: "Versioned schema of this representation of an object (chunkgc.io/v1alpha1).",
      },
      kind: { type: "string", description: "REST resource this object represents (GarbageCollection)." },
      // Kubernetes allows nothing on metadata but restrictions of name and generateName (not even descriptions).
      metadata: { type: "object", properties: { name: { type: "string", maxLength: 63 } } },
      spec: jsonSchemaOf(GarbageCollectionSpecSchema),
      status: jsonSchemaOf(GarbageCollectionStatusSchema),
    },
  };
  const structural = toStructural(root);
  const missing = undescribedPaths(structural);
  if (missing.length > 0)
    throw new CrdSchemaError(missing[0]!, `no description (also: ${missing.slice(1).join(", ")})`);
  return structural;
}

export const PRINTER_COLUMNS = [
  {
    name: "Ready",
    type: "string",
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    description: "Whether the spec is valid and what it names exists.",
  },
  {
    name: "Active",
    type: "string",
    jsonPath: ".status.activeRun.phase",
    description: "The run in progress: Starting, Running or CannotStart.",
  },
  {
    name: "Progress",
    type: "string",
    jsonPath: ".status.activeRun.progress.text",
    description: "The running engine's latest progress: phase, percent, ETA.",
  },
  { name: "Schedule", type: "string", jsonPath: ".spec.schedule", description: "Cron schedule." },
  { name: "Suspended", type: "boolean", jsonPath: ".spec.suspend", description: "Whether runs are suspended." },
  { name: "Last Run", type: "date", jsonPath: ".status.lastRun.completionTime", description: "Latest run finish." },
  { name: "Result", type: "string", jsonPath: ".status.lastRun.result", description: "Outcome of the latest run." },
  { name: "Removed", type: "string", jsonPath: ".status.lastRun.summary.removedSize", description: "Removed size." },
  { name: "Pending", type: "string", jsonPath: ".status.lastRun.summary.pendingSize", description: "Pending size." },
  // A string in spec.timeZone, not a date: date columns print ages, and a future time's age prints as "<invalid>".
  {
    name: "Next Run",
    type: "string",
    jsonPath: ".status.nextScheduleTimeLocal",
    description: "Next schedule slot, in the resource's time zone.",
  },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Age of the resource." },
  { name: "Store", type: "string", jsonPath: ".spec.datastore.s3.store", priority: 1, description: "Datastore." },
  { name: "Bucket", type: "string", jsonPath: ".spec.datastore.s3.bucket", priority: 1, description: "Bucket." },
  { name: "Dry Run", type: "boolean", jsonPath: ".spec.dryRun", priority: 1, description: "Dry run only." },
] as const;

export function garbageCollectionCrd(): JsonSchema {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: CRD_NAME,
      labels: { "app.kubernetes.io/name": "chunkgc", "app.kubernetes.io/part-of": "chunkgc" },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: [...CATEGORIES],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS.map((column) => ({ ...column })),
          schema: { openAPIV3Schema: garbageCollectionOpenApiSchema() },
        },
      ],
    },
  };
}

const HEADER = "# Generated from src/api by `npm run crd`; do not edit (test/unit/api/crd.test.ts checks for drift).\n";

/** The CRD file's exact content. */
export function renderCrdYaml(): string {
  return `${HEADER}${stringify(garbageCollectionCrd(), { lineWidth: 120, aliasDuplicateObjects: false })}`;
}
