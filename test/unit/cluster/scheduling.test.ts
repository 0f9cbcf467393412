import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { podFitsNode } from "../../cluster/scheduling.ts";

const labels = { "kubernetes.io/hostname": "n1", disk: "ssd", zone: "3" };
const pod = (spec: Partial<NonNullable<V1Pod["spec"]>>): V1Pod => ({ spec: { containers: [], ...spec } });
const affinity = (operator: string, key: string, values?: string[]) => ({
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchExpressions: [{ key, operator, ...(values ? { values } : {}) }] }],
    },
  },
});

const cases: [string, V1Pod, boolean][] = [
  ["no constraints", pod({}), true],
  ["matching nodeSelector", pod({ nodeSelector: { disk: "ssd" } }), true],
  ["other nodeSelector", pod({ nodeSelector: { disk: "hdd" } }), false],
  ["other scheduler", pod({ schedulerName: "custom" }), false],
  ["scheduling gate", pod({ schedulingGates: [{ name: "wait" }] }), false],
  ["affinity In", pod({ affinity: affinity("In", "disk", ["ssd", "nvme"]) }), true],
  ["affinity NotIn", pod({ affinity: affinity("NotIn", "disk", ["ssd"]) }), false],
  ["affinity Exists", pod({ affinity: affinity("Exists", "zone") }), true],
  ["affinity DoesNotExist", pod({ affinity: affinity("DoesNotExist", "zone") }), false],
  ["affinity Gt", pod({ affinity: affinity("Gt", "zone", ["2"]) }), true],
  ["affinity Lt", pod({ affinity: affinity("Lt", "zone", ["2"]) }), false],
];
for (const [name, input, fits] of cases) {
  test(`${name} → ${fits ? "fits" : "does not fit"}`, () => assert.equal(podFitsNode(input, "n1", labels).fits, fits));
}
