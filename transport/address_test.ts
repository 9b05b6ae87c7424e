import { strict as assert } from "node:assert";
import { AddressError, formatAddress, parseAddress } from "./mod.ts";

Deno.test("addresses parse in every form users write", () => {
  assert.deepEqual(parseAddress("localhost:8082"), { kind: "tcp", host: "localhost", port: 8082 });
  assert.deepEqual(parseAddress("[::1]:443"), { kind: "tcp", host: "::1", port: 443 });
  assert.deepEqual(parseAddress("grpcs://ctl.example.com:8082/"), {
    kind: "tcp",
    host: "ctl.example.com",
    port: 8082,
  });
  assert.deepEqual(parseAddress("unix:/run/j.sock"), { kind: "unix", path: "/run/j.sock" });
  assert.deepEqual(parseAddress("unix:///run/j.sock"), { kind: "unix", path: "/run/j.sock" });
  assert.deepEqual(parseAddress("/tmp/jumpstarter-1/socket"), {
    kind: "unix",
    path: "/tmp/jumpstarter-1/socket",
  });
});

Deno.test("bad addresses name the problem", () => {
  assert.throws(() => parseAddress("localhost"), /missing port/);
  assert.throws(() => parseAddress("host:http"), /not a number/);
  assert.throws(() => parseAddress("host:70000"), /out of range/);
  assert.throws(() => parseAddress("::1:80"), /brackets/);
  assert.throws(() => parseAddress("unix:"), AddressError);
  assert.throws(() => parseAddress(""), AddressError);
});

Deno.test("formatted addresses parse back to themselves", () => {
  for (const text of ["127.0.0.1:1", "[::1]:2", "unix:/a/b.sock"]) {
    assert.equal(formatAddress(parseAddress(text)), text);
  }
});
