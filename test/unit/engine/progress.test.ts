import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatProgressLine } from "../../../src/cli/progress-renderer.ts";
import { progressSnapshot, sweepTotalEstimate } from "../../../src/engine/progress.ts";

describe("sweep progress estimate", () => {
  it("expects every chunk of the mark table to be listed; nothing to go by with an empty table", () => {
    assert.equal(sweepTotalEstimate(1_000_000), 1_000_000);
    assert.equal(sweepTotalEstimate(0), undefined);
  });

  it("gives percent and ETA against the estimate while the count is below it", () => {
    const snapshot = progressSnapshot("sweep", 250_000, 1_000_000, 10_000, false, true);
    assert.equal(snapshot.total, 1_000_000);
    assert.equal(snapshot.estimated, true);
    assert.equal(snapshot.percent, 25);
    assert.equal(snapshot.ratePerSecond, 25_000);
    assert.equal(snapshot.etaSeconds, 30);
    assert.equal(formatProgressLine(snapshot), "sweep  250 000 / ~1 000 000 chunk keys  25 000/s  25%  ETA 0:30");
  });

  it("never claims 100 % or a zero ETA from an estimate the count reached before the phase ended", () => {
    const at = progressSnapshot("sweep", 1_000_000, 1_000_000, 10_000, false, true);
    assert.equal(at.percent, 99);
    assert.equal(at.etaSeconds, undefined);
    const past = progressSnapshot("sweep", 1_200_000, 1_000_000, 12_000, false, true);
    assert.equal(past.total, 1_200_000, "the estimate moves up with the count");
    assert.equal(past.percent, 99);
    assert.equal(past.etaSeconds, undefined);
  });

  it("ends at the count: 100 % of what was listed, below or above the estimate", () => {
    for (const done of [900_000, 1_100_000]) {
      const end = progressSnapshot("sweep", done, 1_000_000, 10_000, true, true);
      assert.equal(end.total, done);
      assert.equal(end.percent, 100);
      assert.equal(end.etaSeconds, 0);
    }
  });

  it("keeps an exact total (the mark phase's index count) as given", () => {
    const mark = progressSnapshot("mark", 1600, 1600, 2000, false);
    assert.equal(mark.percent, 100);
    assert.equal(mark.estimated, undefined);
    assert.equal(mark.etaSeconds, 0);
  });
});
