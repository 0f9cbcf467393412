/**
 * The S3 behaviours the GC engine relies on, held against every test server (docs/s3-servers.md lists the gaps).
 * Where a server differs from AWS S3, a test named after the difference asserts what the server really does, so a
 * change in either direction is noticed; the expectations per server are in SERVER_PROFILES.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { before, describe, it } from "node:test";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import pLimit from "p-limit";
import type { S3ServerName } from "../../servers/s3-server.ts";
import { createTestBucket, s3TestServers, sdkClientFor } from "../../support/s3-servers.ts";

interface ServerProfile {
  /** Resolution of LastModified in ListObjectsV2 (HEAD's Last-Modified header is whole seconds by HTTP format). */
  readonly listLastModified: "milliseconds" | "seconds";
  /**
   * A key cannot also be the "directory" of other keys (`a` and `a/b`): versitygw's posix backend maps `/` to
   * directories. PBS keys never collide like that.
   */
  readonly keyPathConflicts: boolean;
  /**
   * What a client with the SDK's default checksum settings gets for a streamed body of known length (sent
   * aws-chunked with a trailing checksum): Ceph 16.2 answers 411, hence WHEN_REQUIRED in every client.
   */
  readonly sdkDefaultStreamingUpload: "accepted" | "411 MissingContentLength";
  /** DeleteObjects with Quiet: true still lists every deleted key (AWS lists only errors). */
  readonly quietListsDeleted: boolean;
  /**
   * How DeleteObjects with 1001 keys is answered: rejected (AWS: 400 MalformedXML; the SDK names an empty error
   * body "Unknown") or carried out in full. Clients must cap batches at 1000 themselves.
   */
  readonly over1000Keys:
    | { readonly rejected: true; readonly status: number; readonly code: string }
    | { readonly rejected: false };
}

const SERVER_PROFILES: Record<S3ServerName, ServerProfile> = {
  versitygw: {
    listLastModified: "seconds",
    keyPathConflicts: true,
    sdkDefaultStreamingUpload: "accepted",
    quietListsDeleted: true,
    over1000Keys: { rejected: false },
  },
  "ceph-rgw": {
    listLastModified: "milliseconds",
    keyPathConflicts: false,
    sdkDefaultStreamingUpload: "411 MissingContentLength",
    quietListsDeleted: false,
    over1000Keys: { rejected: true, status: 400, code: "Unknown" },
  },
};

const servers = await s3TestServers();

// ---- helpers -------------------------------------------------------------------------------------------------

/** S3's order: keys compared as UTF-8 bytes (JavaScript's default sort compares UTF-16 code units). */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
const sortedBytewise = (keys: Iterable<string>): string[] => [...keys].sort(byteOrder);

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}
/** A deterministic 64-hex "digest" whose first hex digits are `lead`. */
function digest(lead: string, n: number): string {
  const tail = createHash("sha256").update(`${lead}:${n}`).digest("hex");
  return (lead + tail).slice(0, 64);
}

function s3Error(error: unknown): { status: number | undefined; code: string } {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return { status: e.$metadata?.httpStatusCode, code: e.Code ?? e.name ?? String(error) };
}

async function putAll(s3: S3Client, bucket: string, keys: readonly string[], body = "x"): Promise<void> {
  const limit = pLimit(16);
  await Promise.all(
    keys.map((key) => limit(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })))),
  );
}

interface ListedPage {
  readonly keys: string[];
  readonly prefixes: string[];
  readonly output: ListObjectsV2CommandOutput;
}

/** Every page of a listing, following continuation tokens. */
async function listPages(
  s3: S3Client,
  input: { Bucket: string; Prefix?: string; Delimiter?: string; StartAfter?: string; MaxKeys?: number },
): Promise<ListedPage[]> {
  const pages: ListedPage[] = [];
  let token: string | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const output = await s3.send(new ListObjectsV2Command({ ...input, ContinuationToken: token }));
    pages.push({
      keys: (output.Contents ?? []).map((object) => object.Key!),
      prefixes: (output.CommonPrefixes ?? []).map((prefix) => prefix.Prefix!),
      output,
    });
    if (!output.IsTruncated) return pages;
    token = output.NextContinuationToken;
    assert.ok(token, "a truncated page must carry NextContinuationToken");
  }
  throw new Error("listing did not end");
}

const allKeys = (pages: ListedPage[]) => pages.flatMap((page) => page.keys);

/**
 * Keys shaped like a PBS datastore's (`:` in snapshot times, `-` `.` `:` right after a shared prefix, `.bad` chunk
 * variants sorting right after their chunk), plus non-ASCII keys whose UTF-8 byte order differs from UTF-16 order.
 * No key is the "directory" of another (see keyPathConflicts).
 */
function orderingKeys(): string[] {
  const keys = ["ds/.in-use", "ds/.chunkgc/lock"];
  for (const lead of ["0000", "0000", "00ff", "a1b2", "ffff"]) {
    for (let n = 0; n < 2; n++) keys.push(`ds/.chunks/${lead}/${digest(lead, n)}`);
  }
  const bad = digest("a1b2", 0);
  keys.push(`ds/.chunks/a1b2/${bad}.0.bad`, `ds/.chunks/a1b2/${bad}.1.bad`, "ds/.chunks/a1b2/not-a-chunk");
  for (const group of ["vm/100", "vm/100-1", "vm/100.5", "vm/100:x", "vm/1000", "ct/100", "host/pbs_01"]) {
    keys.push(`ds/.cnt/${group}/owner`);
    for (const time of ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-12-31T23:59:59Z"]) {
      keys.push(`ds/.cnt/${group}/${time}/index.json.blob`, `ds/.cnt/${group}/${time}/drive-scsi0.img.fidx`);
    }
  }
  keys.push(
    "ds/.cnt/vm/100/2024-01-01T00:00:00Z/.protected",
    "ds/.cnt/ns/a/.namespace",
    "ds/.cnt/ns/a/ns/b/.namespace",
  );
  keys.push("ds/.cnt/ns/a/vm/7/2025-06-01T12:00:00Z/catalog.pcat1.didx");
  keys.push("u/Z", "u/a", "u/cafe", "u/cafz", "u/caf\u00e9", "u/\uff5e", "u/\u{1f600}", "u/\u00e9t\u00e9");
  return [...new Set(keys)];
}

// ---- the suite, once per server ------------------------------------------------------------------------------

for (const server of servers) {
  describe(`S3 conformance: ${server.name}`, () => {
    const profile = SERVER_PROFILES[server.name];
    const s3 = sdkClientFor(server);

    describe("listing", () => {
      let bucket = "";
      const keys = orderingKeys();
      const expected = sortedBytewise(keys);

      before(async () => {
        bucket = await createTestBucket(server, `${server.name}-listing`);
        await putAll(s3, bucket, keys);
      });

      it("the fixture's byte order differs from JavaScript's default sort (so the next tests can fail)", () => {
        assert.notDeepEqual([...keys].sort(), expected);
      });

      it("lists every key in UTF-8 byte order in one page", async () => {
        const pages = await listPages(s3, { Bucket: bucket });
        assert.equal(pages.length, 1);
        assert.deepEqual(allKeys(pages), expected);
        assert.equal(pages[0]!.output.KeyCount, expected.length);
      });

      it("pages with MaxKeys 3 and continuation tokens: each key exactly once, in byte order", async () => {
        const pages = await listPages(s3, { Bucket: bucket, MaxKeys: 3 });
        assert.equal(pages.length, Math.ceil(expected.length / 3));
        for (const page of pages) assert.ok(page.keys.length <= 3 && page.keys.length > 0);
        assert.deepEqual(allKeys(pages), expected);
      });

      it("Prefix selects keys starting with it, also in the middle of a path segment", async () => {
        for (const prefix of ["ds/.cnt/vm/100", "ds/.chunks/00", "ds/.chunks/a1b2/", "u/caf", "ds/.cnt/vm/100:"]) {
          const pages = await listPages(s3, { Bucket: bucket, Prefix: prefix, MaxKeys: 4 });
          const want = expected.filter((key) => key.startsWith(prefix));
          assert.ok(want.length > 0, prefix);
          assert.deepEqual(allKeys(pages), want, `prefix ${prefix}`);
        }
      });

      it("StartAfter returns only the keys after it in byte order (existing, absent and partial keys)", async () => {
        const starts = [
          expected[4]!,
          "ds/.chunks/00",
          "ds/.cnt/vm/100",
          "ds/.cnt/vm/100.5/owner",
          "u/cafz",
          "u/\uff5e",
        ];
        for (const startAfter of starts) {
          const pages = await listPages(s3, { Bucket: bucket, StartAfter: startAfter, MaxKeys: 5 });
          const want = expected.filter((key) => byteOrder(key, startAfter) > 0);
          assert.deepEqual(allKeys(pages), want, `start-after ${startAfter}`);
        }
        const withPrefix = await listPages(s3, {
          Bucket: bucket,
          Prefix: "ds/.chunks/",
          StartAfter: `ds/.chunks/a1b2/${digest("a1b2", 0)}`,
        });
        const want = expected.filter(
          (key) => key.startsWith("ds/.chunks/") && byteOrder(key, `ds/.chunks/a1b2/${digest("a1b2", 0)}`) > 0,
        );
        assert.deepEqual(allKeys(withPrefix), want);
        assert.ok(want[0]!.endsWith(".0.bad"), "a .bad variant sorts right after its chunk");
      });

      it("Delimiter groups keys into CommonPrefixes, in byte order, across pages", async () => {
        const prefix = "ds/.cnt/vm/";
        const below = expected.filter((key) => key.startsWith(prefix));
        const wantPrefixes = sortedBytewise(
          new Set(below.map((key) => key.slice(0, key.indexOf("/", prefix.length) + 1))),
        );
        assert.deepEqual(wantPrefixes, [
          "ds/.cnt/vm/100-1/",
          "ds/.cnt/vm/100.5/",
          "ds/.cnt/vm/100/",
          "ds/.cnt/vm/1000/",
          "ds/.cnt/vm/100:x/",
        ]);
        const onePage = await listPages(s3, { Bucket: bucket, Prefix: prefix, Delimiter: "/" });
        assert.deepEqual(
          onePage.flatMap((page) => page.prefixes),
          wantPrefixes,
        );
        assert.deepEqual(allKeys(onePage), []);

        const paged = await listPages(s3, { Bucket: bucket, Prefix: prefix, Delimiter: "/", MaxKeys: 2 });
        for (const page of paged) assert.ok(page.keys.length + page.prefixes.length <= 2);
        assert.deepEqual(
          paged.flatMap((page) => page.prefixes),
          wantPrefixes,
        );

        // Keys and prefixes mixed at one level, walked one entry per page.
        const top = await listPages(s3, { Bucket: bucket, Prefix: "ds/", Delimiter: "/", MaxKeys: 1 });
        assert.deepEqual(allKeys(top), ["ds/.in-use"]);
        assert.deepEqual(
          top.flatMap((page) => page.prefixes),
          ["ds/.chunkgc/", "ds/.chunks/", "ds/.cnt/"],
        );
        const order = top.flatMap((page) => [...page.prefixes, ...page.keys]);
        assert.deepEqual(order, sortedBytewise(order), "entries come in byte order across pages");
      });
    });

    it("concurrent listers over disjoint prefixes see every key exactly once", async () => {
      const bucket = await createTestBucket(server, `${server.name}-shards`);
      const keys: string[] = [];
      for (let shard = 0; shard < 16; shard++) {
        for (let n = 0; n < 12; n++) {
          const lead = `${hex(shard, 1)}${hex(n * 17, 3)}`;
          keys.push(`ds/.chunks/${lead}/${digest(lead, n)}`);
        }
      }
      keys.push("ds/.chunks/zz-junk", "ds/.cnt/vm/1/owner");
      await putAll(s3, bucket, keys);
      const shards = await Promise.all(
        Array.from({ length: 16 }, (_, shard) =>
          listPages(s3, { Bucket: bucket, Prefix: `ds/.chunks/${hex(shard, 1)}`, MaxKeys: 5 }).then(allKeys),
        ),
      );
      const seen = shards.flat();
      const want = sortedBytewise(keys.filter((key) => /^ds\/\.chunks\/[0-9a-f]/.test(key)));
      assert.equal(seen.length, want.length, "no key seen twice or missed");
      assert.deepEqual(sortedBytewise(seen), want);
      shards.forEach((shard, i) => {
        assert.equal(shard.length, 12, `shard ${hex(i, 1)}`);
        assert.deepEqual(shard, sortedBytewise(shard));
      });
    });

    describe("DeleteObjects", () => {
      it("reports every key as deleted, including keys that did not exist", async () => {
        const bucket = await createTestBucket(server, `${server.name}-delete`);
        const present = ["d/.chunks/0001/a", "d/.chunks/0001/b", "d/x:1", "d/x-2", "d/x.3"];
        await putAll(s3, bucket, present);
        const missing = ["d/.chunks/0001/missing", "d/never", "nothing/here"];
        const result = await s3.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: [...present, ...missing].map((Key) => ({ Key })) },
          }),
        );
        assert.deepEqual(result.Errors ?? [], []);
        assert.deepEqual(
          sortedBytewise((result.Deleted ?? []).map((entry) => entry.Key!)),
          sortedBytewise([...present, ...missing]),
        );
        assert.deepEqual(allKeys(await listPages(s3, { Bucket: bucket })), []);
      });

      const quietTitle = profile.quietListsDeleted
        ? "GAP: Quiet mode deletes but still lists every key as Deleted (no errors)"
        : "Quiet mode deletes and returns neither Deleted entries nor errors";
      it(quietTitle, async () => {
        const bucket = await createTestBucket(server, `${server.name}-quiet`);
        const present = ["q/1", "q/2", "q/3"];
        await putAll(s3, bucket, present);
        const result = await s3.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Quiet: true, Objects: [...present, "q/missing"].map((Key) => ({ Key })) },
          }),
        );
        const deleted = sortedBytewise((result.Deleted ?? []).map((entry) => entry.Key!));
        assert.deepEqual(deleted, profile.quietListsDeleted ? [...present, "q/missing"] : []);
        assert.deepEqual(result.Errors ?? [], []);
        assert.deepEqual(allKeys(await listPages(s3, { Bucket: bucket })), []);
      });

      describe("the 1000-key limit", () => {
        let bucket = "";
        const keys = Array.from({ length: 1001 }, (_, i) => `l/${hex(i, 4)}`);
        before(async () => {
          bucket = await createTestBucket(server, `${server.name}-limit`);
          await putAll(s3, bucket, keys);
        });

        const over = profile.over1000Keys;
        const overTitle = over.rejected
          ? `rejects 1001 keys in one request (HTTP ${over.status} ${over.code}) and deletes nothing`
          : "GAP: carries out a DeleteObjects of 1001 keys instead of rejecting it";
        it(overTitle, async () => {
          const outcome = await s3
            .send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }))
            .then(
              (result) => ({
                accepted: true,
                deleted: result.Deleted?.length ?? 0,
                errors: result.Errors?.length ?? 0,
              }),
              (error: unknown) => ({ accepted: false, ...s3Error(error) }),
            );
          const remaining = allKeys(await listPages(s3, { Bucket: bucket })).length;
          if (over.rejected) {
            assert.deepEqual(outcome, { accepted: false, status: over.status, code: over.code });
            assert.equal(remaining, 1001, "the rejected request deleted nothing");
          } else {
            assert.deepEqual(outcome, { accepted: true, deleted: 1001, errors: 0 });
            assert.equal(remaining, 0);
          }
        });

        it("accepts 1000 keys in one request and deletes exactly those", async () => {
          const present = new Set(allKeys(await listPages(s3, { Bucket: bucket })));
          await putAll(
            s3,
            bucket,
            keys.filter((key) => !present.has(key)),
          );
          const result = await s3.send(
            new DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: keys.slice(0, 1000).map((Key) => ({ Key })) },
            }),
          );
          assert.deepEqual(result.Errors ?? [], []);
          assert.equal(result.Deleted?.length, 1000);
          assert.deepEqual(allKeys(await listPages(s3, { Bucket: bucket })), [keys[1000]]);
        });
      });

      it("deleting the last key under a prefix removes the prefix from delimiter listings", async () => {
        const bucket = await createTestBucket(server, `${server.name}-emptydir`);
        await putAll(s3, bucket, ["e/.chunks/0a0a/one", "e/.chunks/0b0b/two", "e/.chunks/0b0b/three"]);
        await s3.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: "e/.chunks/0a0a/one" }] } }),
        );
        const pages = await listPages(s3, { Bucket: bucket, Prefix: "e/.chunks/", Delimiter: "/" });
        assert.deepEqual(
          pages.flatMap((page) => page.prefixes),
          ["e/.chunks/0b0b/"],
        );
        assert.deepEqual(allKeys(await listPages(s3, { Bucket: bucket })), [
          "e/.chunks/0b0b/three",
          "e/.chunks/0b0b/two",
        ]);
      });
    });

    describe("conditional PUT (If-None-Match: *)", () => {
      it("a second create of an existing key fails with 412 and leaves the object unchanged", async () => {
        const bucket = await createTestBucket(server, `${server.name}-inm`);
        const key = "ds/.chunkgc/lock";
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "first", IfNoneMatch: "*" }));
        await assert.rejects(
          s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "second", IfNoneMatch: "*" })),
          (error: unknown) => {
            assert.equal(s3Error(error).status, 412);
            assert.equal(s3Error(error).code, "PreconditionFailed");
            return true;
          },
        );
        assert.equal(await getText(s3, bucket, key), "first");
      });

      it("exactly one of 8 concurrent racers wins, the others get 412", async () => {
        const bucket = await createTestBucket(server, `${server.name}-race`);
        for (let round = 0; round < 5; round++) {
          const key = `ds/.chunkgc/lock-${round}`;
          const outcomes = await Promise.all(
            Array.from({ length: 8 }, (_, racer) =>
              s3
                .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `racer-${racer}`, IfNoneMatch: "*" }))
                .then(
                  () => ({ racer, status: 200 }),
                  (error: unknown) => ({ racer, status: s3Error(error).status ?? 0 }),
                ),
            ),
          );
          const winners = outcomes.filter((outcome) => outcome.status === 200);
          assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(outcomes)}`);
          // AWS may also answer 409 ConditionalRequestConflict to a racer; these servers answer 412.
          for (const loser of outcomes.filter((outcome) => outcome.status !== 200)) assert.equal(loser.status, 412);
          assert.equal(await getText(s3, bucket, key), `racer-${winners[0]!.racer}`, "the winner's body is stored");
        }
      });
    });

    it(`LastModified: listing in ${profile.listLastModified}, HEAD in whole seconds, both agree to the second`, async () => {
      const bucket = await createTestBucket(server, `${server.name}-mtime`);
      const keys = Array.from({ length: 6 }, (_, i) => `m/${i}`);
      const startedAt = Date.now();
      for (const key of keys) {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
        await new Promise((resolve) => setTimeout(resolve, 137));
      }
      const endedAt = Date.now();
      const listed = new Map(
        (await listPages(s3, { Bucket: bucket })).flatMap((page) =>
          (page.output.Contents ?? []).map((object) => [object.Key!, object.LastModified!.getTime()] as const),
        ),
      );
      assert.equal(listed.size, keys.length);
      const subSecond = [...listed.values()].some((ms) => ms % 1000 !== 0);
      assert.equal(subSecond ? "milliseconds" : "seconds", profile.listLastModified);
      for (const key of keys) {
        const listMs = listed.get(key)!;
        const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        const headMs = head.LastModified!.getTime();
        assert.equal(headMs % 1000, 0, "HEAD's Last-Modified is an HTTP date (whole seconds)");
        assert.equal(Math.floor(listMs / 1000) * 1000, headMs, `${key}: listing ${listMs} vs HEAD ${headMs}`);
        // Same machine, same clock: within the upload window (allowing for truncation to the second).
        assert.ok(
          listMs >= Math.floor(startedAt / 1000) * 1000 - 1000 && listMs <= endedAt + 1000,
          `${key}: ${listMs}`,
        );
      }
    });

    it("GetObject Range returns exactly the requested bytes with 206 and Content-Range", async () => {
      const bucket = await createTestBucket(server, `${server.name}-range`);
      const body = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "r/blob", Body: body }));
      const cases: { range: string; start: number; end: number }[] = [
        { range: "bytes=0-7", start: 0, end: 7 },
        { range: "bytes=10-19", start: 10, end: 19 },
        { range: "bytes=250-", start: 250, end: 255 },
        { range: "bytes=-5", start: 251, end: 255 },
        { range: "bytes=200-999", start: 200, end: 255 },
      ];
      for (const { range, start, end } of cases) {
        const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "r/blob", Range: range }));
        const bytes = Buffer.from(await response.Body!.transformToByteArray());
        assert.equal(response.$metadata.httpStatusCode, 206, range);
        assert.equal(response.ContentRange, `bytes ${start}-${end}/256`, range);
        assert.equal(response.ContentLength, end - start + 1, range);
        assert.deepEqual(bytes, body.subarray(start, end + 1), range);
      }
      await assert.rejects(
        s3.send(new GetObjectCommand({ Bucket: bucket, Key: "r/blob", Range: "bytes=300-400" })),
        (error: unknown) => s3Error(error).status === 416,
      );
    });

    it("ETag is the quoted MD5 of the content: stable for identical content, different otherwise", async () => {
      const bucket = await createTestBucket(server, `${server.name}-etag`);
      const body = Buffer.from("PBS chunk payload \u00e9\n".repeat(50));
      const md5 = `"${createHash("md5").update(body).digest("hex")}"`;
      const etags: string[] = [];
      for (const key of ["e/a", "e/b", "e/a"]) {
        const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        etags.push(put.ETag!);
        const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        etags.push(head.ETag!);
      }
      const listed = (await listPages(s3, { Bucket: bucket })).flatMap((page) => page.output.Contents ?? []);
      etags.push(...listed.map((object) => object.ETag!));
      assert.equal(etags.length, 8);
      for (const etag of etags) assert.equal(etag, md5);
      const other = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "e/c", Body: "different" }));
      assert.notEqual(other.ETag, md5);
    });

    const awkward = { dirWithData: "p/d/", longSegment: `p/${"s".repeat(300)}/x` };
    if (profile.keyPathConflicts) {
      it("GAP: keys are file paths: no key beside keys under it (409), no data in a/ keys, segments ≤ 255 bytes", async () => {
        const bucket = await createTestBucket(server, `${server.name}-paths`);
        const attempt = (key: string) =>
          s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "x" })).then(
            () => "stored",
            (error: unknown) => `${s3Error(error).status} ${s3Error(error).code}`,
          );
        assert.equal(await attempt("p/dir/child"), "stored");
        assert.equal(await attempt("p/dir"), "409 ExistingObjectIsDirectory");
        assert.equal(await attempt("p/file"), "stored");
        assert.equal(await attempt("p/file/child"), "409 ObjectParentIsFile");
        assert.equal(await attempt(awkward.dirWithData), "400 DirectoryObjectContainsData");
        assert.equal(await attempt(awkward.longSegment), "400 KeyTooLongError");
        assert.deepEqual(allKeys(await listPages(s3, { Bucket: bucket })), ["p/dir/child", "p/file"]);
      });
    } else {
      it("any key shape: a key beside keys under it, data in a/ keys, path segments over 255 bytes", async () => {
        const bucket = await createTestBucket(server, `${server.name}-paths`);
        const keys = ["p/dir/child", "p/dir", "p/file", "p/file/child", awkward.dirWithData, awkward.longSegment];
        await putAll(s3, bucket, keys);
        assert.deepEqual(allKeys(await listPages(s3, { Bucket: bucket })), sortedBytewise(keys));
      });
    }

    const streaming = profile.sdkDefaultStreamingUpload;
    it(
      streaming === "accepted"
        ? "accepts the SDK's default streaming-checksum upload (aws-chunked)"
        : `GAP: rejects the SDK's default streaming-checksum upload (aws-chunked) with ${streaming}`,
      async () => {
        const bucket = await createTestBucket(server, `${server.name}-chunked`);
        const defaults = new S3Client({
          endpoint: server.endpoint,
          region: server.region,
          forcePathStyle: true,
          credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
          maxAttempts: 1,
          // The SDK warns on the console about the failing streamed request; the test asserts it instead.
          logger: { debug() {}, info() {}, warn() {}, error() {} },
        });
        try {
          const body = Buffer.from("streamed chunk body");
          const outcome = await defaults
            .send(
              new PutObjectCommand({
                Bucket: bucket,
                Key: "s/streamed",
                Body: Readable.from([body]),
                ContentLength: body.length,
              }),
            )
            .then(
              () => "accepted",
              (error: unknown) => `${s3Error(error).status} ${s3Error(error).code}`,
            );
          assert.equal(outcome, streaming);
          if (outcome === "accepted") assert.equal(await getText(s3, bucket, "s/streamed"), body.toString());
          // The test client (checksums only when required) stores the same upload on every server.
          await s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: "s/plain",
              Body: Readable.from([body]),
              ContentLength: body.length,
            }),
          );
          assert.equal(await getText(s3, bucket, "s/plain"), body.toString());
        } finally {
          defaults.destroy();
        }
      },
    );
  });
}

async function getText(s3: S3Client, bucket: string, key: string): Promise<string> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return response.Body!.transformToString();
}
