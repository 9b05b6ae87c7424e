import { strict as assert } from "node:assert";
import { InvalidArgumentError } from "../framework/mod.ts";
import { build, invoke, readAll, recordingLog } from "../../tests/fixtures/driver_harness.ts";
import { createMockPower } from "./mod.ts";

Deno.test("MockPower reports upstream's power client", async () => {
  const power = await build(createMockPower, {});
  assert.equal(power.client, "jumpstarter_driver_power.client.PowerClient");
  assert.deepEqual(Object.keys(power.methods).sort(), ["off", "on", "read"]);
});

Deno.test("MockPower on and off switch its state and log it", async () => {
  const power = await build(createMockPower, {});
  const log = recordingLog();
  assert.equal(power.isOn, false);
  assert.equal(await invoke(power, "on", [], { log }), undefined);
  assert.equal(power.isOn, true);
  await invoke(power, "off", [], { log });
  assert.equal(power.isOn, false);
  assert.deepEqual(log.lines, ["info: power on", "info: power off"]);
});

Deno.test("MockPower reset turns it off", async () => {
  const power = await build(createMockPower, {});
  await invoke(power, "on");
  await power.reset?.();
  assert.equal(power.isOn, false);
});

Deno.test("MockPower read yields upstream's two mock readings and ends", async () => {
  const power = await build(createMockPower, {});
  assert.deepEqual(await readAll(power), [{ voltage: 0, current: 0 }, { voltage: 5, current: 2 }]);
});

Deno.test("MockPower methods take no arguments", async () => {
  const power = await build(createMockPower, {});
  await assert.rejects(async () => await invoke(power, "on", [1]), InvalidArgumentError);
  await assert.rejects(async () => await invoke(power, "off", [true]), InvalidArgumentError);
  await assert.rejects(() => readAll(power, ["x"]), /read\(\) takes no arguments, got 1/);
  assert.equal(power.isOn, false, "a refused call changes nothing");
});

Deno.test("MockPower has no config keys", async () => {
  await assert.rejects(() => build(createMockPower, { voltage: 5 }), /unknown key "voltage"/);
});
