import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { bodyBytes } from "../../../src/s3/objects.ts";

/** A GET body as the SDK hands it over in Node: a readable stream with `transformToByteArray`. */
function body(pieces: Uint8Array[]) {
  const stream = Readable.from(pieces) as Readable & { transformToByteArray(): Promise<Uint8Array> };
  stream.transformToByteArray = async () => new Uint8Array(Buffer.concat(pieces));
  return stream;
}

const pieces = [new Uint8Array([1, 2, 3]), new Uint8Array([4]), new Uint8Array([5, 6])];

describe("bodyBytes", () => {
  it("copies the pieces into one array of the Content-Length", async () => {
    assert.deepEqual(await bodyBytes(body(pieces), 6), new Uint8Array([1, 2, 3, 4, 5, 6]));
    assert.deepEqual(await bodyBytes(body([]), 0), new Uint8Array());
  });

  it("without a usable Content-Length, collects the body as the SDK does", async () => {
    for (const length of [undefined, -1, 1.5, Number.NaN]) {
      assert.deepEqual(await bodyBytes(body(pieces), length), new Uint8Array([1, 2, 3, 4, 5, 6]), String(length));
    }
  });

  it("a body shorter or longer than its Content-Length is an error, never a short or cut array", async () => {
    await assert.rejects(bodyBytes(body(pieces), 7), /ended after 6 of its Content-Length 7/);
    await assert.rejects(bodyBytes(body(pieces), 5), /longer than its Content-Length 5/);
  });
});
