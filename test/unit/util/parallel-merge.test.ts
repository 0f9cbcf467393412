import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { mergeParallel } from "../../../src/util/parallel-merge.ts";

function source(items: number[], waitMs = 1) {
  return async function* (signal: AbortSignal) {
    for (const item of items) {
      await delay(waitMs, undefined, { signal });
      yield item;
    }
  };
}

describe("mergeParallel", () => {
  test("yields every item of every source once", async () => {
    const seen: number[] = [];
    for await (const item of mergeParallel([source([1, 2, 3]), source([4, 5]), source([]), source([6])], {
      concurrency: 2,
    })) {
      seen.push(item);
    }
    assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6]);
  });

  test("never runs more than `concurrency` sources at once", async () => {
    let running = 0;
    let peak = 0;
    const tracked = Array.from(
      { length: 6 },
      () =>
        async function* () {
          running += 1;
          peak = Math.max(peak, running);
          await delay(5);
          yield 1;
          running -= 1;
        },
    );
    let count = 0;
    for await (const item of mergeParallel(tracked, { concurrency: 3 })) count += item;
    assert.equal(count, 6);
    assert.ok(peak <= 3, `peak ${peak}`);
  });

  test("the first failure reaches the reader and aborts the other sources", async () => {
    let aborted = false;
    const slow = async function* (signal: AbortSignal) {
      signal.addEventListener("abort", () => {
        aborted = true;
      });
      await delay(1000, undefined, { signal });
      yield 1;
    };
    const failing = async function* () {
      await delay(5);
      if (Date.now() > 0) throw new Error("boom");
      yield 0;
    };
    await assert.rejects(async () => {
      for await (const _ of mergeParallel([slow, failing], { concurrency: 2 })) {
        // drain
      }
    }, /boom/);
    assert.ok(aborted);
  });
});
