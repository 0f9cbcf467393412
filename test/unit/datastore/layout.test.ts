import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertLayout } from "../../../src/datastore/layout.ts";

describe("assertLayout", () => {
  it("accepts contiguous fields that fill the header", () => {
    const layout = assertLayout("t", 12, { a: { offset: 0, size: 8 }, b: { offset: 8, size: 4 } });
    assert.equal(layout.b.offset, 8);
  });

  it("rejects gaps, overlaps and a wrong total", () => {
    assert.throws(() => assertLayout("t", 12, { a: { offset: 0, size: 8 }, b: { offset: 9, size: 3 } }), /field b/);
    assert.throws(() => assertLayout("t", 12, { a: { offset: 0, size: 8 }, b: { offset: 7, size: 5 } }), /field b/);
    assert.throws(
      () => assertLayout("t", 16, { a: { offset: 0, size: 8 }, b: { offset: 8, size: 4 } }),
      /add up to 12/,
    );
  });
});
