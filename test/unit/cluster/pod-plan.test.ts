import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import {
  chunkgcArguments,
  expandReferences,
  isChunkgcImage,
  pathMapJson,
  rewritePaths,
  unsupportedFeatures,
} from "../../cluster/pod-plan.ts";

describe("isChunkgcImage", () => {
  for (const [image, expected] of [
    ["chunkgc", true],
    ["chunkgc:dev", true],
    ["ghcr.io/example/chunkgc:1.2.3", true],
    ["localhost:5000/chunkgc", true],
    ["localhost:5000/team/chunkgc@sha256:abcd", true],
    ["registry.example/chunkgc:dev@sha256:abcd", true],
    ["chunkgc-operator:dev", false],
    ["chunkgc/other:dev", false],
    ["busybox", false],
    ["localhost:5000/busybox:chunkgc", false],
    ["", false],
  ] as const) {
    test(`${image || "(empty)"} → ${expected}`, () => assert.equal(isChunkgcImage(image), expected));
  }
});

describe("expandReferences", () => {
  const vars: Record<string, string> = { A: "alpha", B: "/data" };
  const lookup = (name: string) => vars[name];
  for (const [input, expected] of [
    ["$(A)", "alpha"],
    ["x-$(A)-$(B)/y", "x-alpha-/data/y"],
    ["$$(A)", "$(A)"],
    ["$(MISSING)", "$(MISSING)"],
    ["$A", "$A"],
    ["cost $", "cost $"],
    ["$(A", "$(A"],
    ["$$", "$"],
  ] as const) {
    test(`${input} → ${expected}`, () => assert.equal(expandReferences(input, lookup), expected));
  }
});

describe("rewritePaths", () => {
  const mappings = [
    { containerPath: "/data", hostPath: "/host/data" },
    { containerPath: "/data/cache", hostPath: "/host/pvc" },
    { containerPath: "/dev/termination-log", hostPath: "/host/msg" },
  ];
  for (const [input, expected] of [
    ["/data", "/host/data"],
    ["/data/file", "/host/data/file"],
    ["/data/cache/x", "/host/pvc/x"],
    ["/database", "/database"],
    ["--cache-dir=/data/cache", "--cache-dir=/host/pvc"],
    ["--out=/dev/termination-log", "--out=/host/msg"],
    ["/dev/termination-log", "/host/msg"],
    ["https://s3.example/data", "https://s3.example/data"],
    ["relative/data", "relative/data"],
  ] as const) {
    test(`${input} → ${expected}`, () => assert.equal(rewritePaths(input, mappings), expected));
  }
  test("the path map JSON lists the longest container path first", () => {
    assert.deepEqual(Object.keys(JSON.parse(pathMapJson(mappings))), ["/dev/termination-log", "/data/cache", "/data"]);
  });
});

describe("chunkgcArguments", () => {
  test("command replaces the entrypoint; args follow", () => {
    assert.deepEqual(chunkgcArguments({ name: "c", command: ["chunkgc", "gc"], args: ["--dry-run"] }), [
      "gc",
      "--dry-run",
    ]);
    assert.deepEqual(chunkgcArguments({ name: "c", args: ["version"] }), ["version"]);
    assert.deepEqual(chunkgcArguments({ name: "c" }), []);
  });
});

describe("unsupportedFeatures", () => {
  const pod = (spec: Partial<NonNullable<V1Pod["spec"]>>): V1Pod => ({
    spec: { containers: [{ name: "c", image: "chunkgc:dev", args: ["version"] }], ...spec },
  });
  test("a plain chunkgc pod with supported volumes runs", () => {
    assert.deepEqual(
      unsupportedFeatures(
        pod({
          volumes: [
            { name: "a", emptyDir: {} },
            { name: "b", persistentVolumeClaim: { claimName: "x" } },
            { name: "c", secret: { secretName: "s" } },
          ],
          containers: [
            {
              name: "c",
              image: "chunkgc",
              command: ["/usr/local/bin/chunkgc"],
              env: [{ name: "N", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
              volumeMounts: [{ name: "a", mountPath: "/a" }],
            },
          ],
        }),
      ),
      [],
    );
  });
  test("every unsupported feature is named", () => {
    const problems = unsupportedFeatures(
      pod({
        initContainers: [{ name: "i", image: "chunkgc" }],
        volumes: [{ name: "h", hostPath: { path: "/etc" } }],
        containers: [
          {
            name: "c",
            image: "busybox",
            command: ["sh"],
            livenessProbe: { exec: { command: ["true"] } },
            env: [{ name: "L", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } }],
          },
        ],
      }),
    );
    assert.equal(problems.length, 6, problems.join("\n"));
    for (const pattern of [/init containers/, /hostPath/, /busybox/, /command sh/, /liveness/, /resourceFieldRef/]) {
      assert.ok(
        problems.some((p) => pattern.test(p)),
        `${pattern} in ${problems.join("; ")}`,
      );
    }
  });
});
