/** The tenancy setting: which datastores a namespace may name; without a policy, any. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { datastoreRefusal, parseDatastorePolicy } from "../../../src/operator/datastore-policy.ts";
import { findCondition, reduceStatus } from "../../../src/operator/status.ts";

const aws = "https://s3.eu-central-1.amazonaws.com";
const policy = parseDatastorePolicy(
  JSON.stringify({
    "team-a": [{ endpoint: `${aws}/`, bucket: "pbs-team-a" }],
    "team-b": [{ bucket: "pbs-b-*", store: "store1" }],
    "*": [{ endpoint: "http://rgw.shared:7480", bucket: "shared" }],
  }),
);
const ref = (endpoint: string, bucket: string, store = "store1") => ({ endpoint, bucket, store });

describe("datastore policy", () => {
  const cases: [string, string, ReturnType<typeof ref>, boolean][] = [
    [
      "its own bucket (endpoint spelled differently)",
      "team-a",
      ref("https://S3.eu-central-1.amazonaws.com:443", "pbs-team-a"),
      true,
    ],
    ["another team's bucket", "team-a", ref(aws, "pbs-b-1"), false],
    ["its bucket at another endpoint", "team-a", ref("https://evil.example", "pbs-team-a"), false],
    ["a prefix pattern", "team-b", ref(aws, "pbs-b-1"), true],
    ["a prefix pattern, another store", "team-b", ref(aws, "pbs-b-1", "store2"), false],
    ["the shared rule, from any namespace", "team-c", ref("http://rgw.shared:7480", "shared"), true],
    ["a namespace without rules", "team-c", ref(aws, "pbs-team-a"), false],
  ];
  for (const [name, namespace, datastore, allowed] of cases) {
    it(name, () => assert.equal(datastoreRefusal(policy, namespace, datastore) === undefined, allowed));
  }
  it("without a policy everything is allowed", () => {
    assert.equal(datastoreRefusal(undefined, "x", ref(aws, "anything")), undefined);
  });
  it("the refusal names the namespace, the bucket and what is allowed; the status is Stalled until the spec changes", () => {
    const message = datastoreRefusal(policy, "team-a", ref(aws, "pbs-b-1")) ?? "";
    assert.match(message, /namespace team-a may not name bucket pbs-b-1 .*only pbs-team-a\/\*/);
    const status = reduceStatus(
      undefined,
      { type: "SpecInvalid", reason: "DatastoreNotAllowed", message },
      {
        generation: 1,
        now: new Date(),
      },
    );
    assert.deepEqual(
      [findCondition(status, "Stalled")?.reason, findCondition(status, "Ready")?.reason],
      ["DatastoreNotAllowed", "DatastoreNotAllowed"],
    );
    const fixed = reduceStatus(status, { type: "SpecAccepted", suspended: false }, { generation: 2, now: new Date() });
    assert.equal(findCondition(fixed, "Stalled")?.status, "False");
  });
  it("a malformed policy is refused at start-up", () => {
    assert.throws(() => parseDatastorePolicy("{"), /not valid JSON/);
    assert.throws(() => parseDatastorePolicy('{"a": [{"bucket": "x", "typo": 1}]}'), /--datastore-policy/);
    assert.throws(() => parseDatastorePolicy('{"a": [{"endpoint": "ftp://x"}]}'), /http or https/);
  });
});
