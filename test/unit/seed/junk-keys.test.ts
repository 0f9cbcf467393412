/**
 * Junk keys are the generator's test of "never counted, never deleted". They are only a test if a run that took one
 * for a chunk would delete it: so no junk key may carry the digest of a planned chunk (a referenced digest would
 * keep it alive whatever the engine thought it was).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { digestHex, parseDeletableChunkKey } from "../../../src/datastore/index.ts";
import { junkKeys, neighbourStoreName, plannedObjects } from "../../../src/seed/objects.ts";
import { chunkDigestOf, type DatastorePlan, planDatastore } from "../../../src/seed/plan.ts";

const plans: DatastorePlan[] = [
  planDatastore({ store: "ds", seed: 1, chunks: 200, garbageChunks: 50, badReferencedNoGoodCopy: 2 }, 1_700_000_000),
  planDatastore({ store: "store1", seed: 7, chunks: 31, freshChunks: 5, badUnreferenced: 3 }, 1_700_000_000),
  planDatastore({ store: "a/b", seed: 99, chunks: 1, snapshots: 1, groups: 1 }, 1_700_000_000),
];

/** Every run of 63 or more hex digits in a key, lower-cased: what a lenient parser could take for a digest. */
function digestLikeRuns(key: string): string[] {
  return [...key.matchAll(/[0-9a-fA-F]{63,}/g)].map((match) => match[0].toLowerCase());
}

for (const plan of plans) {
  describe(`junk keys of store ${plan.params.store} (seed ${plan.params.seed})`, () => {
    const junk = junkKeys(plan);
    const chunkLike = junk.filter((key) => digestLikeRuns(key).length > 0);

    it("are none of the store's chunk keys, nor the neighbour's", () => {
      for (const key of junk) {
        assert.equal(parseDeletableChunkKey(plan.params.store, key), undefined, key);
        assert.equal(parseDeletableChunkKey(neighbourStoreName(plan.params.store), key), undefined, key);
      }
    });

    it("include near-misses of chunk keys under .chunks/", () => {
      assert.ok(chunkLike.length >= 7, `${chunkLike.length} chunk-like junk keys`);
      for (const key of chunkLike) assert.ok(key.startsWith(`${plan.params.store}/.chunks/`), key);
    });

    it("carry digests of no planned chunk, referenced or not", () => {
      const planned: string[] = [];
      for (let id = 0; id < plan.totalChunkIds; id += 1) planned.push(digestHex(chunkDigestOf(plan, id)));
      const plannedSet = new Set(planned);
      for (const key of chunkLike) {
        for (const run of digestLikeRuns(key)) {
          const digest = run.slice(0, 64);
          if (digest.length === 64) assert.ok(!plannedSet.has(digest), `${key} carries a planned chunk's digest`);
          else assert.ok(!planned.some((hex) => hex.startsWith(digest)), `${key} carries a planned digest's prefix`);
        }
      }
    });

    it("carry a digest of their own each, so one protected key cannot hide another", () => {
      const digests = chunkLike.map((key) => digestLikeRuns(key)[0]!.slice(0, 63));
      assert.equal(new Set(digests).size, digests.length);
    });

    it("are planned as old junk objects, written once", () => {
      const objects = [...plannedObjects(plan)];
      const byKey = new Map(objects.map((object) => [object.key, object]));
      assert.equal(byKey.size, objects.length, "a key is planned twice");
      for (const key of junk) {
        const object = byKey.get(key);
        assert.ok(object, `${key} is not planned`);
        assert.equal(object.role, "junk");
        assert.equal(object.wave, 1, "junk is uploaded with the old datastore, so a wrong verdict would be a delete");
      }
    });
  });
}

describe("junk keys", () => {
  it("are absent when the parameters say so", () => {
    const plan = planDatastore({ store: "ds", chunks: 10, junkKeys: false }, 1_700_000_000);
    assert.equal([...plannedObjects(plan)].filter((object) => object.role === "junk").length, 0);
  });

  it("differ between seeds", () => {
    const one = junkKeys(planDatastore({ store: "ds", seed: 1, chunks: 10 }, 1_700_000_000));
    const two = junkKeys(planDatastore({ store: "ds", seed: 2, chunks: 10 }, 1_700_000_000));
    assert.notDeepEqual(one, two);
  });
});
