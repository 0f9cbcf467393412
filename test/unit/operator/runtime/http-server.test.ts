import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseListenAddress } from "../../../../src/operator/runtime/http-server.ts";

describe("listen addresses", () => {
  const cases: [string, ReturnType<typeof parseListenAddress>][] = [
    [":8080", { host: "0.0.0.0", port: 8080 }],
    ["127.0.0.1:0", { host: "127.0.0.1", port: 0 }],
    ["[::1]:9090", { host: "::1", port: 9090 }],
    ["0", undefined],
  ];
  for (const [address, expected] of cases) it(address, () => assert.deepEqual(parseListenAddress(address), expected));
  it("rejects nonsense", () => {
    assert.throws(() => parseListenAddress("8080"), /invalid listen address/);
    assert.throws(() => parseListenAddress(":99999"), /invalid listen address/);
  });
});
