// An example device test: run it inside a shell on the bench, e.g.
//   jmp shell --exporter-config examples/demo-exporter.yaml -- deno test -A examples/board_checks.ts
// `env()` connects to the exporter of the surrounding shell, like upstream's pytest fixture.

import { strict as assert } from "node:assert";
import { env } from "../client/mod.ts";
import type { PowerClient } from "../drivers/power/client.ts";
import type { ShellClient } from "../drivers/shell/client.ts";

Deno.test("the board answers after a power cycle", async () => {
  await using dut = await env();
  const power = dut.root.child("power") as PowerClient;
  await power.cycle(0.1);

  const shell = dut.root.child("board").child("shell") as ShellClient;
  let output = "";
  const code = await shell.run("greet", ["test"], { stdout: (text) => (output += text) });
  assert.equal(code, 0);
  assert.equal(output, "hello, test\n");
});

Deno.test("the power meter reports a voltage once on", async () => {
  await using dut = await env();
  const power = dut.root.child("power") as PowerClient;
  await power.on();
  const readings = [];
  for await (const reading of power.read()) readings.push(reading);
  assert.ok(readings.some((r) => r.voltage > 0), JSON.stringify(readings));
});
