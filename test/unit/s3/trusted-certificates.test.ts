import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rootCertificates } from "node:tls";
import { trustedCertificates } from "../../../src/s3/client.ts";

const PRIVATE_CA = "-----BEGIN CERTIFICATE-----\nMIIBprivate\n-----END CERTIFICATE-----\n";

describe("trustedCertificates (--ca-bundle)", () => {
  it("adds the bundle to Node's roots: a private CA does not make public endpoints untrusted", () => {
    const trusted = trustedCertificates(PRIVATE_CA);
    assert.ok(trusted);
    assert.ok(trusted.includes(PRIVATE_CA), "the bundle is trusted");
    assert.equal(trusted.length, rootCertificates.length + 1);
    for (const root of rootCertificates) assert.ok(trusted.includes(root), "every Node root stays trusted");
  });

  it("without a bundle leaves Node's defaults alone", () => {
    assert.equal(trustedCertificates(undefined), undefined);
  });
});
