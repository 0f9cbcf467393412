/**
 * Index reads that fail, against real S3 servers through the fault proxy: a 404 is believed only once the key is no
 * longer listed; a listed index that cannot be read aborts the run before any deletion; an index that "vanished"
 * but is listed again at the recheck aborts it too. Also: a server that ignores If-None-Match, and a server clock
 * that is off.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { deleteObject, getObjectBytes, listObjects, putObject, type S3Context } from "../../../src/s3/index.ts";
import { allKeys, freshBucketContext, runEngine, tempCacheDir } from "../../support/engine.ts";
import { type FaultProxy, type FaultRules, startFaultProxy } from "../../support/fault-proxy.ts";
import { type HandmadeChunk, putChunks, putSnapshot, snapshotRef } from "../../support/handmade-store.ts";
import { s3TestServers } from "../../support/s3-servers.ts";

const servers = await s3TestServers();
const HOUR = 3600;
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface OneIndexStore {
  readonly referenced: HandmadeChunk[];
  readonly garbage: HandmadeChunk[];
  readonly indexKey: string;
  readonly indexBytes: Uint8Array;
  readonly now: Date;
}

/** Six chunks referenced by one index alone, four garbage chunks, all past the grace by the `now` returned. */
async function oneIndexStore(s3: S3Context): Promise<OneIndexStore> {
  const upload = nowSeconds();
  const referenced = await putChunks(s3, "s", "referenced", 6);
  const garbage = await putChunks(s3, "s", "garbage", 4);
  const [indexKey] = await putSnapshot(s3, "s", snapshotRef("100", upload - 40 * HOUR), referenced, { finished: true });
  const indexBytes = (await getObjectBytes(s3, indexKey!)).bytes;
  return { referenced, garbage, indexKey: indexKey!, indexBytes, now: new Date((upload + 30 * HOUR) * 1000) };
}

async function withProxy<T>(endpoint: string, rules: FaultRules, body: (proxy: FaultProxy) => Promise<T>): Promise<T> {
  const proxy = await startFaultProxy(endpoint, rules);
  try {
    return await body(proxy);
  } finally {
    await proxy.close();
  }
}

const deleteRequests = (proxy: FaultProxy) => proxy.log.filter((entry) => entry.kind === "deleteObjects").length;

for (const server of servers) {
  describe(`index read faults on ${server.name}`, () => {
    test("one 404 on an index that is still listed: re-read, its chunks kept (never taken as pruned)", async () => {
      const s3 = await freshBucketContext(server, "idx404");
      try {
        const store = await oneIndexStore(s3);
        let answered = 0;
        const plan: FaultRules["plan"] = (request) => {
          if (request.kind !== "get" || request.key !== store.indexKey || answered > 0) return undefined;
          answered += 1;
          return { type: "status", status: 404, code: "NoSuchKey" };
        };
        await withProxy(server.endpoint, { plan }, async (proxy) => {
          const report = await runEngine(
            s3,
            { ...server, endpoint: proxy.endpoint },
            { store: "s", cacheDir: tempCacheDir("idx404"), now: store.now },
          );
          assert.equal(answered, 1, "the 404 was injected");
          assert.equal(report.result, "succeeded", report.message);
          assert.equal(report.vanishedIndexes, 0);
          assert.equal(report.counters.indexFileCount, 1);
          const remaining = await allKeys(s3, "s/.chunks/");
          for (const chunk of store.referenced) assert.ok(remaining.has(chunk.key), `${chunk.key} is referenced`);
          for (const chunk of store.garbage) assert.ok(!remaining.has(chunk.key), `${chunk.key} is garbage`);
        });
      } finally {
        s3.close();
      }
    });

    test("an index listed but answering 404 to every read aborts the run before any deletion", async () => {
      const s3 = await freshBucketContext(server, "idx404p");
      try {
        const store = await oneIndexStore(s3);
        const plan: FaultRules["plan"] = (request) =>
          request.kind === "get" && request.key === store.indexKey
            ? { type: "status", status: 404, code: "NoSuchKey" }
            : undefined;
        await withProxy(server.endpoint, { plan }, async (proxy) => {
          const before = await allKeys(s3);
          const report = await runEngine(
            s3,
            { ...server, endpoint: proxy.endpoint },
            { store: "s", cacheDir: tempCacheDir("idx404p"), now: store.now },
          );
          assert.equal(report.result, "aborted", report.message);
          assert.match(report.message ?? "", new RegExp(store.indexKey.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
          assert.equal(deleteRequests(proxy), 0);
          assert.deepEqual(await allKeys(s3), before);
        });
      } finally {
        s3.close();
      }
    });

    for (const [what, fault] of [
      ["403 AccessDenied", { type: "status", status: 403, code: "AccessDenied" }],
      ["a 500 that outlasts every retry", { type: "status", status: 500, code: "InternalError" }],
    ] as const) {
      test(`a non-retryable index failure (${what}) aborts the run before any deletion, naming the key`, async () => {
        const s3 = await freshBucketContext(server, "idxfail");
        try {
          const store = await oneIndexStore(s3);
          const plan: FaultRules["plan"] = (request) =>
            request.kind === "get" && request.key === store.indexKey ? fault : undefined;
          await withProxy(server.endpoint, { plan }, async (proxy) => {
            const before = await allKeys(s3);
            const report = await runEngine(
              s3,
              { ...server, endpoint: proxy.endpoint },
              { store: "s", cacheDir: tempCacheDir("idxfail"), now: store.now },
            );
            assert.equal(report.result, "aborted", report.message);
            assert.match(report.message ?? "", /cannot read index/);
            assert.ok(report.message?.includes(store.indexKey), report.message);
            assert.equal(deleteRequests(proxy), 0, "no DeleteObjects was sent");
            assert.deepEqual(await allKeys(s3), before);
          });
        } finally {
          s3.close();
        }
      });
    }

    test("an index gone at its read (404, no longer listed) but listed again at the recheck aborts the run", async () => {
      const s3 = await freshBucketContext(server, "idxback");
      try {
        const store = await oneIndexStore(s3);
        let pruned: Promise<void> | undefined;
        // The first read of the index is held back while the index is really deleted: a true "pruned meanwhile".
        const plan: FaultRules["plan"] = (request) => {
          if (request.kind !== "get" || request.key !== store.indexKey || pruned) return undefined;
          pruned = deleteObject(s3, store.indexKey);
          return { type: "delay", ms: 1500 };
        };
        await withProxy(server.endpoint, { plan }, async (proxy) => {
          const report = await runEngine(
            s3,
            { ...server, endpoint: proxy.endpoint },
            { store: "s", cacheDir: tempCacheDir("idxback"), now: store.now },
            {
              beforeRecheck: async () => {
                await pruned;
                // The same bytes again (same ETag): the listing and the earlier 404 disagree.
                await putObject(s3, store.indexKey, store.indexBytes);
              },
            },
          );
          assert.ok(pruned, "the read was intercepted");
          assert.equal(report.vanishedIndexes, 1);
          assert.equal(report.result, "aborted", report.message);
          assert.match(report.message ?? "", /listed again/);
          assert.equal(deleteRequests(proxy), 0, "no DeleteObjects was sent");
          const remaining = await allKeys(s3, "s/.chunks/");
          for (const chunk of [...store.referenced, ...store.garbage]) assert.ok(remaining.has(chunk.key));
        });
      } finally {
        s3.close();
      }
    });

    test("a server that ignores If-None-Match: the engine refuses to take the lock, nothing written or deleted", async () => {
      const s3 = await freshBucketContext(server, "inm");
      try {
        const store = await oneIndexStore(s3);
        await withProxy(server.endpoint, { ignoreIfNoneMatch: true }, async (proxy) => {
          const before = await allKeys(s3);
          const report = await runEngine(
            s3,
            { ...server, endpoint: proxy.endpoint },
            { store: "s", cacheDir: tempCacheDir("inm"), now: store.now },
          );
          assert.ok((proxy.injectedByKind.put.ignoredIfNoneMatch ?? 0) >= 1, "the proxy accepted a refused PUT");
          assert.equal(report.result, "failed");
          assert.match(report.message ?? "", /ConditionalWriteUnsupportedError.*If-None-Match/);
          assert.equal(report.lockGeneration, undefined, "no lock was taken");
          assert.equal(deleteRequests(proxy), 0);
          assert.deepEqual(await allKeys(s3), before);
          const lockObjects = [];
          for await (const object of listObjects(s3, { prefix: "s/.chunkgc/lock/" })) lockObjects.push(object.key);
          assert.deepEqual(lockObjects, []);
        });
      } finally {
        s3.close();
      }
    });
  });

  describe(`clock skew on ${server.name}`, () => {
    test("a server clock 100 s behind ours widens the cutoff: a chunk younger than the grace is kept", async () => {
      const s3 = await freshBucketContext(server, "skew");
      try {
        const upload = nowSeconds();
        const fresh = await putChunks(s3, "s", "fresh", 3);
        // By our clock the chunks are 250 s old at `now`, inside a 300 s grace. The server's clock (100 s behind)
        // makes them look 350 s old.
        const now = new Date((upload + 250) * 1000);
        await withProxy(server.endpoint, { clockShiftMs: -100_000 }, async (proxy) => {
          const report = await runEngine(
            s3,
            { ...server, endpoint: proxy.endpoint },
            { store: "s", cacheDir: tempCacheDir("skew"), graceSeconds: 300, now },
          );
          assert.equal(report.result, "succeeded", report.message);
          assert.ok(report.clockSkew, "skew measured");
          assert.ok(
            report.clockSkew.estimateMs < -98_000 && report.clockSkew.estimateMs > -102_000,
            JSON.stringify(report.clockSkew),
          );
          assert.ok(report.clockSkew.boundMs >= 100_000);
          const minAtime = Date.parse(report.cutoff!.minAtime) / 1000;
          assert.ok(minAtime <= upload + 250 - 300 - 100, `cutoff ${report.cutoff!.minAtime} is widened by the skew`);
          const remaining = await allKeys(s3, "s/.chunks/");
          for (const chunk of fresh) assert.ok(remaining.has(chunk.key), `${chunk.key} is younger than the grace`);
          assert.equal(deleteRequests(proxy), 0);
        });
      } finally {
        s3.close();
      }
    });

    test("a skew beyond the bound refuses the run before it deletes anything", async () => {
      const s3 = await freshBucketContext(server, "skewbig");
      try {
        const store = await oneIndexStore(s3);
        await withProxy(server.endpoint, { clockShiftMs: -200_000 }, async (proxy) => {
          const before = await allKeys(s3);
          const report = await runEngine(
            s3,
            { ...server, endpoint: proxy.endpoint },
            { store: "s", cacheDir: tempCacheDir("skewbig"), now: store.now, maxClockSkewSeconds: 120 },
          );
          assert.equal(report.result, "aborted", report.message);
          assert.match(report.message ?? "", /clock/);
          assert.equal(deleteRequests(proxy), 0);
          assert.deepEqual(await allKeys(s3), before);
        });
      } finally {
        s3.close();
      }
    });
  });
}
