/**
 * Error path, on a deliberately broken in-test server: one that ignores If-None-Match must be detected, so that the
 * datastore lock is never trusted on it. (Real servers honour it: test/integration/s3/conformance.test.ts.)
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import { createS3Context, probeConditionalPut } from "../../../src/s3/index.ts";

async function serverThat(honoursIfNoneMatch: boolean) {
  const stored = new Set<string>();
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      const key = request.url ?? "";
      if (request.method === "PUT") {
        if (honoursIfNoneMatch && request.headers["if-none-match"] === "*" && stored.has(key)) {
          response.writeHead(412, { "content-type": "application/xml" });
          response.end("<Error><Code>PreconditionFailed</Code><Message>exists</Message></Error>");
          return;
        }
        stored.add(key);
      } else if (request.method === "DELETE") {
        stored.delete(key);
        response.writeHead(204);
        response.end();
        return;
      }
      response.writeHead(200, { etag: '"e"' });
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  after(() => server.close());
  return createS3Context(
    {
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      bucket: "bkt",
      forcePathStyle: true,
      maxAttempts: 1,
    },
    { accessKeyId: "a", secretAccessKey: "b" },
  );
}

describe("probeConditionalPut", () => {
  test("a server that ignores If-None-Match is detected", async () => {
    const s3 = await serverThat(false);
    assert.equal(await probeConditionalPut(s3, "s/.chunkgc/lock/"), false);
    s3.close();
  });
  test("a server that honours it passes", async () => {
    const s3 = await serverThat(true);
    assert.equal(await probeConditionalPut(s3, "s/.chunkgc/lock/"), true);
    s3.close();
  });
});
