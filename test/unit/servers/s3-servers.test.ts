import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cephConfig } from "../../servers/ceph-config.ts";
import { connectionOf, controlledEnv } from "../../servers/s3-server.ts";
import {
  checkRequiredServers,
  MissingS3ServerError,
  parseS3Servers,
  type S3TestServer,
  testBucketName,
} from "../../support/s3-servers.ts";

const versitygw: S3TestServer = {
  name: "versitygw",
  endpoint: "http://127.0.0.1:7070",
  region: "us-east-1",
  accessKeyId: "a",
  secretAccessKey: "s",
  forcePathStyle: true,
};
const ceph: S3TestServer = { ...versitygw, name: "ceph-rgw", endpoint: "http://127.0.0.1:7480" };

describe("S3 test servers: the suite's environment variable", () => {
  it("round-trips the connection data of both servers", () => {
    const handle = { ...ceph, stop: async () => {} };
    const value = JSON.stringify([connectionOf(versitygw), connectionOf(handle)]);
    assert.deepEqual(parseS3Servers(value), [versitygw, ceph]);
    assert.ok(!value.includes("stop"));
  });

  it("rejects malformed values, naming the variable", () => {
    assert.throws(() => parseS3Servers("not json"), /CHUNKGC_TEST_S3_SERVERS is not JSON/);
    assert.throws(() => parseS3Servers(JSON.stringify([{ ...versitygw, name: "s3rver" }])), /malformed/);
    assert.throws(() => parseS3Servers(JSON.stringify([{ ...versitygw, forcePathStyle: false }])), /malformed/);
    assert.throws(() => parseS3Servers(JSON.stringify({ ...versitygw })), /malformed/);
  });

  it("in CI, a missing server fails loudly; outside CI, fewer servers are fine", () => {
    assert.throws(() => checkRequiredServers([versitygw], { CI: "true" }, "X"), MissingS3ServerError);
    assert.throws(() => checkRequiredServers([], { CI: "1" }, "X"), /versitygw, ceph-rgw are missing from X/);
    assert.doesNotThrow(() => checkRequiredServers([versitygw, ceph], { CI: "true" }, "X"));
    assert.doesNotThrow(() => checkRequiredServers([versitygw], {}, "X"));
  });
});

describe("S3 test servers: bucket names", () => {
  it("are valid S3 bucket names and unique", () => {
    const names = new Set<string>();
    for (const label of ["ceph-rgw-listing", "Weird Label!!", "", "x".repeat(200), "versitygw-1000-key-limit"]) {
      const name = testBucketName(label);
      assert.match(name, /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, name);
      names.add(name);
    }
    assert.equal(names.size, 5);
  });
});

describe("S3 test servers: process environment", () => {
  it("passes no AWS_* or CEPH_* variable of the caller to the servers", () => {
    process.env.AWS_CA_BUNDLE = "/nonexistent/ca.pem";
    try {
      const env = controlledEnv({ ROOT_ACCESS_KEY_ID: "k" });
      assert.equal(env.AWS_CA_BUNDLE, undefined);
      assert.equal(env.ROOT_ACCESS_KEY_ID, "k");
      assert.ok(Object.keys(env).every((name) => !/^(AWS_|CEPH_)/.test(name)));
      assert.match(env.PATH ?? "", /\/usr\/bin/);
    } finally {
      delete process.env.AWS_CA_BUNDLE;
    }
  });
});

describe("S3 test servers: ceph.conf of the test cluster", () => {
  const conf = cephConfig({ fsid: "f", dir: "/w", monPort: 1111, rgwPort: 2222 });
  const settings = new Map(
    conf
      .split("\n")
      .filter((line) => line.includes(" = "))
      .map((line) => line.split(" = ") as [string, string]),
  );

  it("carries the settings found necessary on this kind of machine", () => {
    assert.equal(settings.get("ms mon client mode"), "crc secure", "radosgw hangs with auth disabled without it");
    assert.equal(settings.get("bluestore block create"), "true");
    assert.equal(settings.has("bluestore block path"), false, "a block path inside the OSD dir loops at mkfs");
    assert.equal(settings.get("osd pool default size"), "1");
    assert.equal(settings.get("auth client required"), "none");
  });

  it("listens on loopback only, on the given ports, and keeps its files under the cluster directory", () => {
    assert.equal(settings.get("mon host"), "v2:127.0.0.1:1111");
    assert.equal(settings.get("rgw frontends"), "beast endpoint=127.0.0.1:2222");
    for (const name of ["mon data", "osd data", "log file", "keyring", "rgw data"]) {
      assert.ok(settings.get(name)?.startsWith("/w/"), name);
    }
  });
});
