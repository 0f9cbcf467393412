import assert from "node:assert/strict";
import { DatastoreFormatError } from "../../../src/datastore/index.ts";

/** Asserts that `fn` throws an error of `type` (a DatastoreFormatError) that names `source` and matches `reason`. */
export function assertFormatError(
  fn: () => unknown,
  type: new (...args: never[]) => DatastoreFormatError,
  source: string,
  reason: RegExp,
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.ok(error instanceof DatastoreFormatError);
    assert.equal(error.source, source);
    assert.ok(error.message.startsWith(`${source}: `), `message does not name the source: ${error.message}`);
    assert.match(error.reason, reason);
    return true;
  });
}
