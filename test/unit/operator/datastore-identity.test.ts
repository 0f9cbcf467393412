import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  datastoreHash,
  datastoreIdentity,
  datastoreLeaseName,
  InvalidEndpointError,
  normalizeEndpoint,
} from "../../../src/operator/datastore-identity.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const base = { endpoint: "https://s3.eu-central-1.amazonaws.com", bucket: "pbs", store: "store1" };

describe("datastore identity", () => {
  const spellings: [string, string][] = [
    ["https://s3.eu-central-1.amazonaws.com", "https://s3.eu-central-1.amazonaws.com"],
    ["https://S3.EU-Central-1.amazonaws.com/", "https://s3.eu-central-1.amazonaws.com"],
    ["HTTPS://s3.eu-central-1.amazonaws.com:443", "https://s3.eu-central-1.amazonaws.com"],
    ["http://rgw.storage:80/", "http://rgw.storage"],
    ["http://rgw.storage:7480", "http://rgw.storage:7480"],
    ["http://10.0.0.5:9000/minio//", "http://10.0.0.5:9000/minio"],
  ];
  for (const [input, expected] of spellings) {
    it(`normalizes ${input}`, () => assert.equal(normalizeEndpoint(input), expected));
  }

  for (const bad of ["s3.example.com", "ftp://s3.example.com", "https://user:pw@s3.example.com", ""]) {
    it(`rejects endpoint ${JSON.stringify(bad)}`, () => {
      assert.throws(() => normalizeEndpoint(bad), InvalidEndpointError);
    });
  }

  it("gives every spelling of one datastore the same Lease", () => {
    const names = new Set(spellings.slice(0, 3).map(([endpoint]) => datastoreLeaseName({ ...base, endpoint })));
    assert.equal(names.size, 1);
  });

  const different: [string, Partial<typeof base>][] = [
    ["another bucket", { bucket: "pbs2" }],
    ["another store", { store: "store2" }],
    ["a store differing in case", { store: "Store1" }],
    ["another endpoint", { endpoint: "https://s3.eu-west-1.amazonaws.com" }],
    ["another port", { endpoint: "https://s3.eu-central-1.amazonaws.com:8443" }],
    ["http instead of https", { endpoint: "http://s3.eu-central-1.amazonaws.com" }],
  ];
  for (const [name, patch] of different) {
    it(`separates ${name}`, () => assert.notEqual(datastoreLeaseName({ ...base, ...patch }), datastoreLeaseName(base)));
  }

  it("does not confuse field boundaries", () => {
    assert.notEqual(
      datastoreHash({ endpoint: "https://e", bucket: "ab", store: "cde" }),
      datastoreHash({ endpoint: "https://e", bucket: "abc", store: "de" }),
    );
  });

  const names: [string, string, RegExp][] = [
    ["a plain store", "store1", /^chunkgc-store1-[0-9a-f]{16}$/],
    ["a store with dots and capitals", "Backup.Main_01", /^chunkgc-backup-main-01-[0-9a-f]{16}$/],
    ["a long store", "a".repeat(32), /^chunkgc-a{20}-[0-9a-f]{16}$/],
    ["a store of symbols only", "___", /^chunkgc-[0-9a-f]{16}$/],
    ["a store whose hint ends at a separator", `${"x".repeat(19)}.y`, /^chunkgc-x{19}-[0-9a-f]{16}$/],
  ];
  for (const [name, store, pattern] of names) {
    it(`names the Lease of ${name} as a DNS label`, () => {
      const lease = datastoreLeaseName({ ...base, store });
      assert.match(lease, pattern);
      assert.match(lease, DNS_LABEL);
      assert.ok(lease.length <= 63);
    });
  }

  it("is stable across releases (the Lease of a running operator must not move)", () => {
    assert.equal(datastoreLeaseName(base), `chunkgc-store1-${datastoreHash(base)}`);
    // sha256 of ["https://s3.eu-central-1.amazonaws.com","pbs","store1"], computed with sha256sum.
    assert.equal(datastoreHash(base), "225e5f8c2b3be11f");
  });

  it("exposes the normalized identity", () => {
    assert.deepEqual(datastoreIdentity({ ...base, endpoint: "https://S3.eu-central-1.amazonaws.com/" }), base);
  });
});
