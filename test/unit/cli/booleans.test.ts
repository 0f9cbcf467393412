import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { booleanFromEnv, booleanValue, parseBooleanText, UsageError } from "../../../src/cli/arg-parsers.ts";
import { futureNowRefusal } from "../../../src/engine/options.ts";

describe("boolean settings: exactly true/false/1/0/yes/no, any case", () => {
  test("accepted words", () => {
    for (const word of ["true", "TRUE", "True", "1", "yes", "YES", "yEs"]) assert.equal(parseBooleanText(word), true);
    for (const word of ["false", "FALSE", "0", "no", "No"]) assert.equal(parseBooleanText(word), false);
  });
  test("anything else is no answer at all (never 'present means true')", () => {
    for (const word of ["", " ", "on", "off", "y", "n", "2", "-1", "truee", " true", "false ", "null", "undefined"]) {
      assert.equal(parseBooleanText(word), undefined, JSON.stringify(word));
    }
  });
  test("a flag's parser names the flag", () => {
    assert.equal(booleanValue("--dry-run")("no"), false);
    assert.throws(() => booleanValue("--dry-run")("maybe"), /--dry-run takes true\/false\/1\/0\/yes\/no, got "maybe"/);
  });
  test("an environment variable: unset is undefined, a bad value is a usage error (exit 2) naming it", () => {
    assert.equal(booleanFromEnv("X", {}), undefined);
    assert.equal(booleanFromEnv("X", { X: "0" }), false);
    assert.equal(booleanFromEnv("X", { X: "Yes" }), true);
    for (const value of ["", "nope"]) {
      assert.throws(
        () => booleanFromEnv("CHUNKGC_S3_PATH_STYLE", { CHUNKGC_S3_PATH_STYLE: value }),
        (error: unknown) =>
          error instanceof UsageError && error.exitCode === 2 && /CHUNKGC_S3_PATH_STYLE/.test(error.message),
      );
    }
  });
});

describe("a --now later than the wall clock", () => {
  const wall = Date.parse("2026-11-25T10:00:00Z");
  const later = new Date(wall + 1000);
  test("is refused on a deleting run", () => {
    assert.match(futureNowRefusal({ now: later, dryRun: false, allowFutureNow: false }, wall) ?? "", /later than/);
  });
  test("is allowed on a dry run, or with the test-only permission", () => {
    assert.equal(futureNowRefusal({ now: later, dryRun: true, allowFutureNow: false }, wall), undefined);
    assert.equal(futureNowRefusal({ now: later, dryRun: false, allowFutureNow: true }, wall), undefined);
  });
  test("the past, the present and no override are fine", () => {
    assert.equal(futureNowRefusal({ now: new Date(wall), dryRun: false, allowFutureNow: false }, wall), undefined);
    assert.equal(
      futureNowRefusal({ now: new Date(wall - 86_400_000), dryRun: false, allowFutureNow: false }, wall),
      undefined,
    );
    assert.equal(futureNowRefusal({ dryRun: false, allowFutureNow: false }, wall), undefined);
  });
});
