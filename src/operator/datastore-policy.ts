import { z } from "zod";
import { type DatastoreRef, normalizeEndpoint } from "./datastore-identity.ts";

/**
 * Which datastores a namespace may name (the operator's --datastore-policy). Without a policy every namespace may
 * name any endpoint and bucket, and only its credentials limit what a run can touch; with one, a GarbageCollection
 * whose datastore matches none of its namespace's rules (or the "*" rules) is refused before any Job: it could
 * otherwise collect another team's datastore with credentials that happen to work. Pure.
 */

const pattern = z
  .string()
  .min(1)
  .max(2048)
  .describe('An exact value, or a prefix ending in "*" ("pbs-team-a-*"); "*" alone matches anything.');

export const DatastoreRuleSchema = z
  .object({
    endpoint: z.string().min(1).max(2048).optional().describe("The endpoint (compared normalized); any when omitted."),
    bucket: pattern.optional(),
    store: pattern.optional(),
  })
  .strict();
export type DatastoreRule = z.infer<typeof DatastoreRuleSchema>;

/** namespace (or "*" for every namespace) → the datastores it may name. */
export const DatastorePolicySchema = z.record(z.string().min(1), z.array(DatastoreRuleSchema));
export type DatastorePolicy = z.infer<typeof DatastorePolicySchema>;

export class DatastorePolicyError extends Error {
  constructor(problem: string) {
    super(`--datastore-policy: ${problem}`);
    this.name = "DatastorePolicyError";
  }
}

export function parseDatastorePolicy(json: string): DatastorePolicy {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new DatastorePolicyError("not valid JSON");
  }
  const parsed = DatastorePolicySchema.safeParse(value);
  if (!parsed.success) throw new DatastorePolicyError(parsed.error.issues.map((i) => i.message).join("; "));
  for (const rules of Object.values(parsed.data)) {
    for (const rule of rules) if (rule.endpoint !== undefined) normalizeEndpoint(rule.endpoint);
  }
  return parsed.data;
}

function matches(value: string, wanted: string | undefined): boolean {
  if (wanted === undefined || wanted === "*") return true;
  return wanted.endsWith("*") ? value.startsWith(wanted.slice(0, -1)) : value === wanted;
}

function ruleMatches(rule: DatastoreRule, ref: DatastoreRef): boolean {
  if (rule.endpoint !== undefined && normalizeEndpoint(rule.endpoint) !== normalizeEndpoint(ref.endpoint)) {
    return false;
  }
  return matches(ref.bucket, rule.bucket) && matches(ref.store, rule.store);
}

/** undefined when allowed, else the message for the status. */
export function datastoreRefusal(
  policy: DatastorePolicy | undefined,
  namespace: string,
  ref: DatastoreRef,
): string | undefined {
  if (policy === undefined) return undefined;
  const rules = [...(policy[namespace] ?? []), ...(policy["*"] ?? [])];
  if (rules.some((rule) => ruleMatches(rule, ref))) return undefined;
  return (
    `namespace ${namespace} may not name bucket ${ref.bucket} (store ${ref.store}) at ` +
    `${normalizeEndpoint(ref.endpoint)}: the operator's datastore policy allows ` +
    (rules.length === 0 ? "no datastore here" : `only ${rules.map(describeRule).join(", ")}`)
  );
}

function describeRule(rule: DatastoreRule): string {
  return `${rule.bucket ?? "*"}/${rule.store ?? "*"}${rule.endpoint ? ` at ${rule.endpoint}` : ""}`;
}
