/**
 * values.schema.json: helm validates values against it before rendering, so a typo or a wrong type stops the install
 * with the key's name; the defaults and the documented non-default values pass.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { helm, templateArgs } from "../../support/helm.ts";

describe("values.schema.json", () => {
  const refused: [string, unknown, RegExp][] = [
    ["a misspelled top-level key", { replica: 2 }, /replica/],
    ["a wrong type", { replicas: "two" }, /replicas/],
    ["an unknown pull policy", { image: { pullPolicy: "Sometimes" } }, /pullPolicy/],
    ["a bad duration", { runPod: { activeDeadline: "twelve hours" } }, /activeDeadline/],
    [
      "an engine switch in the run pods' env",
      { runPod: { env: { CHUNKGC_ACKNOWLEDGE_IN_USE: "1" } } },
      /CHUNKGC_ACKNOWLEDGE_IN_USE/,
    ],
    ["an unknown id mode", { runPod: { ids: "random" } }, /ids/],
    ["a misspelled crds key", { crds: { enabled: false } }, /crds/],
  ];
  for (const [name, values, key] of refused) {
    test(`refuses ${name}`, async () => {
      const result = await helm(templateArgs({ values }));
      assert.notEqual(result.code, 0, "rendered although the schema should refuse it");
      assert.match(result.stderr, /values don't meet the specifications of the schema/);
      assert.match(result.stderr, key);
    });
  }
  test("accepts the defaults and documented settings", async () => {
    for (const values of [
      {},
      {
        crds: { create: false },
        watchNamespaces: ["a", "b"],
        runPod: { ids: "platform", env: { HTTPS_PROXY: "http://p:3128", CHUNKGC_LOG_LEVEL: "debug" } },
        metrics: { prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } },
        livenessProbe: null,
      },
    ]) {
      const result = await helm(templateArgs({ values }));
      assert.equal(result.code, 0, result.stderr);
    }
  });
});
