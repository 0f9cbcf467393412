import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  badChunkKey,
  chunkKey,
  chunkShardPrefix,
  chunksPrefix,
  contentKey,
  contentPrefix,
  inUseKey,
  isDeletableChunkKey,
  KeyFormatError,
  parseDeletableChunkKey,
  ZERO_CHUNK_DIGEST_HEX,
} from "../../../src/datastore/index.ts";

const D = ZERO_CHUNK_DIGEST_HEX; // bb9f…
const FOLDER = D.slice(0, 4);

describe("key builders", () => {
  it("build the keys of docs/datastore-format.md#object-keys", () => {
    assert.equal(chunksPrefix("store1"), "store1/.chunks/");
    assert.equal(contentPrefix("store1"), "store1/.cnt/");
    assert.equal(inUseKey("store1"), "store1/.in-use");
    assert.equal(chunkKey("store1", D), `store1/.chunks/bb9f/${D}`);
    assert.equal(badChunkKey("store1", D, 0), `store1/.chunks/bb9f/${D}.0.bad`);
    assert.equal(badChunkKey("store1", D, 9), `store1/.chunks/bb9f/${D}.9.bad`);
    assert.equal(contentKey("store1", "vm/100/owner"), "store1/.cnt/vm/100/owner");
    assert.equal(chunkShardPrefix("s", ""), "s/.chunks/");
    assert.equal(chunkShardPrefix("s", "0a"), "s/.chunks/0a");
    assert.equal(chunkShardPrefix("s", "0a1f"), "s/.chunks/0a1f/");
  });

  it("refuse what cannot be a key", () => {
    assert.throws(() => chunkKey("s", D.toUpperCase()), KeyFormatError);
    assert.throws(() => chunkKey("s", D.slice(2)), KeyFormatError);
    assert.throws(() => badChunkKey("s", D, 10), KeyFormatError);
    assert.throws(() => badChunkKey("s", D, -1), KeyFormatError);
    assert.throws(() => badChunkKey("s", D, 1.5), KeyFormatError);
    assert.throws(() => chunksPrefix(""), KeyFormatError);
    assert.throws(() => chunksPrefix("s/"), KeyFormatError);
    assert.throws(() => inUseKey("/s"), KeyFormatError);
    assert.throws(() => contentKey("s", "/abs"), KeyFormatError);
    assert.throws(() => contentKey("s", "x".repeat(1020)), /longer than 1024/);
    assert.throws(() => chunkShardPrefix("s", "ABCD"), KeyFormatError);
    assert.throws(() => chunkShardPrefix("s", "abcde"), KeyFormatError);
  });
});

describe("deletable chunk keys (docs/gc-semantics.md#strict-chunk-keys)", () => {
  const valid: [string, string, { digestHex: string; badIndex?: number }][] = [
    ["store1", `store1/.chunks/${FOLDER}/${D}`, { digestHex: D }],
    ["store1", `store1/.chunks/${FOLDER}/${D}.0.bad`, { digestHex: D, badIndex: 0 }],
    ["store1", `store1/.chunks/${FOLDER}/${D}.9.bad`, { digestHex: D, badIndex: 9 }],
    ["s", `s/.chunks/0000/${"0".repeat(64)}`, { digestHex: "0".repeat(64) }],
    ["a.b+c(d)[e]$^|?*\\", `a.b+c(d)[e]$^|?*\\/.chunks/${FOLDER}/${D}.3.bad`, { digestHex: D, badIndex: 3 }],
    ["pbs/nested", `pbs/nested/.chunks/${FOLDER}/${D}`, { digestHex: D }],
  ];
  for (const [store, key, expected] of valid) {
    it(`accepts ${key}`, () => {
      assert.deepEqual(parseDeletableChunkKey(store, key), expected);
      assert.equal(isDeletableChunkKey(store, key), true);
    });
  }

  const invalid: [string, string][] = [
    ["uppercase digest", `store1/.chunks/${FOLDER}/${D.toUpperCase()}`],
    ["uppercase folder", `store1/.chunks/BB9F/${D}`],
    ["uppercase in the digest tail", `store1/.chunks/${FOLDER}/${D.slice(0, 63)}F`],
    ["folder not the digest's first 4 hex", `store1/.chunks/bb9e/${D}`],
    ["folder of 3 hex", `store1/.chunks/bb9/${D}`],
    ["folder of 5 hex", `store1/.chunks/bb9f8/${D}`],
    ["63-hex digest", `store1/.chunks/${FOLDER}/${D.slice(0, 63)}`],
    ["65-hex digest", `store1/.chunks/${FOLDER}/${D}0`],
    ["non-hex character", `store1/.chunks/${FOLDER}/${D.slice(0, 40)}g${D.slice(41)}`],
    [".10.bad", `store1/.chunks/${FOLDER}/${D}.10.bad`],
    [".bad without N", `store1/.chunks/${FOLDER}/${D}.bad`],
    [".x.bad", `store1/.chunks/${FOLDER}/${D}.x.bad`],
    [".1.BAD", `store1/.chunks/${FOLDER}/${D}.1.BAD`],
    [".1-bad", `store1/.chunks/${FOLDER}/${D}.1-bad`],
    ["extra suffix", `store1/.chunks/${FOLDER}/${D}.tmp`],
    ["extra suffix after .bad", `store1/.chunks/${FOLDER}/${D}.1.bad.old`],
    ["trailing slash", `store1/.chunks/${FOLDER}/${D}/`],
    ["other store", `store2/.chunks/${FOLDER}/${D}`],
    ["store name prefix of another", `store10/.chunks/${FOLDER}/${D}`],
    ["key store a prefix of ours", `store/.chunks/${FOLDER}/${D}`],
    ["no store prefix", `.chunks/${FOLDER}/${D}`],
    ["leading slash", `/store1/.chunks/${FOLDER}/${D}`],
    ["nested deeper", `store1/.chunks/${FOLDER}/x/${D}`],
    ["nested store", `other/store1/.chunks/${FOLDER}/${D}`],
    ["under .cnt", `store1/.cnt/${FOLDER}/${D}`],
    ["chunks dir without dot", `store1/chunks/${FOLDER}/${D}`],
    ["folder marker", `store1/.chunks/${FOLDER}/`],
    ["empty", ""],
  ];
  for (const [what, key] of invalid) {
    it(`rejects ${what}`, () => {
      assert.equal(parseDeletableChunkKey("store1", key), undefined);
      assert.equal(isDeletableChunkKey("store1", key), false);
    });
  }

  it("takes a store name with regex metacharacters literally", () => {
    const store = "a.b+c";
    assert.equal(isDeletableChunkKey(store, `a.b+c/.chunks/${FOLDER}/${D}`), true);
    assert.equal(isDeletableChunkKey(store, `aXb+c/.chunks/${FOLDER}/${D}`), false);
    assert.equal(isDeletableChunkKey(store, `a.bbc/.chunks/${FOLDER}/${D}`), false);
    assert.equal(isDeletableChunkKey(".*", `xy/.chunks/${FOLDER}/${D}`), false);
  });

  it("agrees with the spec's regular expression on 50k mutated keys", () => {
    const random = mulberry32(42);
    const alphabet = "0123456789abcdefABCDEFgx./-_";
    for (const store of ["store1", "a.b", "s+(x)"]) {
      const escaped = store.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      const spec = new RegExp(`^${escaped}/\\.chunks/([0-9a-f]{4})/([0-9a-f]{64})(\\.[0-9]\\.bad)?$`);
      let accepted = 0;
      for (let i = 0; i < 50_000 / 3; i++) {
        let key = random() < 0.5 ? chunkKey(store, randomHex(random)) : badChunkKey(store, randomHex(random), i % 10);
        const mutations = Math.floor(random() * 3);
        for (let m = 0; m < mutations; m++) {
          const at = Math.floor(random() * (key.length + 1));
          const ch = alphabet[Math.floor(random() * alphabet.length)]!;
          const op = random();
          if (op < 0.4) key = key.slice(0, at) + ch + key.slice(at + 1);
          else if (op < 0.7) key = key.slice(0, at) + ch + key.slice(at);
          else key = key.slice(0, at) + key.slice(at + 1);
        }
        const match = spec.exec(key);
        const expected = match !== null && match[2]!.startsWith(match[1]!);
        assert.equal(isDeletableChunkKey(store, key), expected, key);
        const parsed = parseDeletableChunkKey(store, key);
        assert.equal(parsed !== undefined, expected, key);
        if (parsed !== undefined) {
          assert.equal(parsed.digestHex, match![2]);
          assert.equal(parsed.badIndex, match![3] === undefined ? undefined : Number(match![3][1]));
          accepted++;
        }
      }
      assert.ok(accepted > 3000 && accepted < 14000, `a useful mix of valid and invalid keys (${accepted})`);
    }
  });
});

function randomHex(random: () => number): string {
  let hex = "";
  for (let i = 0; i < 64; i++) hex += "0123456789abcdef"[Math.floor(random() * 16)];
  return hex;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
