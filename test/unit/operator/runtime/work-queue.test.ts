import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { backoffDelay, WorkQueue } from "../../../../src/operator/runtime/work-queue.ts";

describe("backoffDelay", () => {
  const cases: [number, number][] = [
    [0, 0],
    [1, 500],
    [2, 1000],
    [3, 2000],
    [10, 256_000],
    [11, 300_000],
    [100, 300_000],
  ];
  for (const [failures, expected] of cases) {
    it(`failure ${failures} waits ${expected} ms`, () => assert.equal(backoffDelay(failures, 500, 300_000), expected));
  }
});

describe("WorkQueue", () => {
  it("queues a key once however often it is added", async () => {
    const depths: number[] = [];
    const queue = new WorkQueue({ onDepth: (depth) => depths.push(depth) });
    queue.add("a/x");
    queue.add("a/x");
    queue.add("a/y");
    assert.equal(queue.length, 2);
    assert.equal(await queue.get(), "a/x");
    assert.equal(await queue.get(), "a/y");
    assert.deepEqual(depths, [1, 2, 1, 0]);
  });

  it("never hands out a key being processed; a key added meanwhile comes back after done", async () => {
    const queue = new WorkQueue();
    queue.add("k");
    const first = await queue.get();
    assert.equal(first, "k");
    queue.add("k");
    assert.equal(queue.length, 0, "not queued while processing");
    let second: string | undefined;
    void queue.get().then((key) => {
      second = key;
    });
    await sleep(5);
    assert.equal(second, undefined, "a second worker must not get the key being processed");
    queue.done("k");
    await sleep(5);
    assert.equal(second, "k");
  });

  it("adds after a delay, the earliest pending delay winning", async () => {
    const queue = new WorkQueue();
    queue.addAfter("k", 60_000);
    queue.addAfter("k", 20);
    queue.addAfter("k", 10_000);
    assert.equal(queue.length, 0);
    await sleep(60);
    assert.equal(queue.length, 1);
    queue.shutDown();
  });

  it("backs off per key and forgets on success", () => {
    const queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
    assert.equal(queue.addRateLimited("k"), 100);
    assert.equal(queue.addRateLimited("k"), 200);
    assert.equal(queue.addRateLimited("other"), 100, "backoff is per key");
    assert.equal(queue.failures("k"), 2);
    queue.forget("k");
    assert.equal(queue.failures("k"), 0);
    assert.equal(queue.addRateLimited("k"), 100);
    queue.shutDown();
  });

  it("shutDown wakes waiting workers with undefined and drops delayed adds", async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.addAfter("k", 10);
    queue.shutDown();
    assert.equal(await waiting, undefined);
    await sleep(20);
    assert.equal(queue.length, 0);
    queue.add("k");
    assert.equal(queue.length, 0, "no adds after shutdown");
  });

  it("whenIdle resolves once in-flight keys are done", async () => {
    const queue = new WorkQueue();
    queue.add("k");
    await queue.get();
    let idle = false;
    void queue.whenIdle().then(() => {
      idle = true;
    });
    await sleep(5);
    assert.equal(idle, false);
    queue.done("k");
    await sleep(5);
    assert.equal(idle, true);
  });
});
