/** A changed Secret or claim maps back to exactly the resources that name it (so they reconcile at once). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { watchedNamespaces } from "../../../../src/operator/controller/operator.ts";
import { resourcesReferencing } from "../../../../src/operator/controller/references.ts";
import { buildRunServiceAccount } from "../../../../src/operator/controller/run-service-account.ts";
import { sampleSpec } from "../../../support/gc-fixtures.ts";

const s3 = sampleSpec().datastore.s3;
const resource = (name: string, namespace: string, spec: unknown) => ({ metadata: { name, namespace }, spec });
const resources = [
  resource("a", "team", sampleSpec()),
  resource("b", "team", {
    ...sampleSpec(),
    datastore: { s3: { ...s3, credentialsSecretRef: { name: "other" }, caBundleSecretRef: { name: "ca" } } },
    markerCache: { claimName: "shared-cache" },
    runPod: {
      env: [{ name: "P", valueFrom: { secretKeyRef: { name: "proxy-auth", key: "p" } } }],
      volumes: [{ name: "v", secret: { secretName: "trust" } }],
      envFrom: [{ prefix: "X_", secretRef: { name: "extra" } }],
    },
  }),
  resource("c", "elsewhere", sampleSpec()),
  resource("broken", "team", { datastore: {} }),
];

describe("resourcesReferencing", () => {
  const cases: [string, "Secret" | "PersistentVolumeClaim", string, string[]][] = [
    ["the credentials Secret", "Secret", "pbs-s3", ["team/a"]],
    ["a CA bundle Secret", "Secret", "ca", ["team/b"]],
    ["an env secretKeyRef", "Secret", "proxy-auth", ["team/b"]],
    ["a Secret volume", "Secret", "trust", ["team/b"]],
    ["an envFrom Secret", "Secret", "extra", ["team/b"]],
    ["an unrelated Secret", "Secret", "nope", []],
    ["a template claim", "PersistentVolumeClaim", "a-marker-cache", ["team/a"]],
    ["an existing claim", "PersistentVolumeClaim", "shared-cache", ["team/b"]],
  ];
  for (const [name, kind, object, expected] of cases) {
    it(name, () => assert.deepEqual(resourcesReferencing(kind, "team", object, resources), expected));
  }
  it("only in the object's namespace", () => {
    assert.deepEqual(resourcesReferencing("Secret", "elsewhere", "pbs-s3", resources), ["elsewhere/c"]);
  });
});

describe("run ServiceAccount", () => {
  it("mounts no token and carries the installation's annotations", () => {
    const account = buildRunServiceAccount("team", "gc-run", {
      "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/gc",
    });
    assert.equal(account.automountServiceAccountToken, false);
    assert.deepEqual(account.metadata?.annotations, { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/gc" });
    assert.equal(account.metadata?.namespace, "team");
    assert.equal(buildRunServiceAccount("team", "gc-run", {}).metadata?.annotations, undefined);
  });
});

describe("watched namespaces", () => {
  it("a list, the single flag merged in, each once; none means all", () => {
    assert.deepEqual(watchedNamespaces({ namespaces: ["a", "b"], namespace: "a" }), ["a", "b"]);
    assert.deepEqual(watchedNamespaces({ namespace: "x" }), ["x"]);
    assert.equal(watchedNamespaces({}), undefined);
    assert.equal(watchedNamespaces({ namespaces: [] }), undefined);
  });
});
