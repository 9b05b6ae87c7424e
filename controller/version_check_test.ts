import { strict as assert } from "node:assert";
import { versionProblem } from "./version_check.ts";

Deno.test("peers of the same release series are accepted, as are peers that send none", () => {
  assert.equal(versionProblem("client", "1.4.2", "1.0.0"), undefined);
  assert.equal(versionProblem("exporter", "0.3.9", "0.3.0"), undefined);
  assert.equal(versionProblem("client", undefined, "1.0.0"), undefined);
  assert.equal(versionProblem("client", "dev", "1.0.0"), undefined);
});

Deno.test("a peer of another series is told both versions and which side to upgrade", () => {
  assert.equal(
    versionProblem("exporter", "2.0.1", "1.5.0"),
    "exporter version 2.0.1 does not work with controller version 1.5.0 " +
      "(this controller speaks to 1.x): upgrade the controller",
  );
  assert.equal(
    versionProblem("client", "0.1.0", "0.2.3"),
    "client version 0.1.0 does not work with controller version 0.2.3 " +
      "(this controller speaks to 0.2.x): upgrade the client",
  );
});
