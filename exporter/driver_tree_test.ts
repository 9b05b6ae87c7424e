import { strict as assert } from "node:assert";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, parseExporterConfig } from "../config/mod.ts";
import { buildDriverTree } from "./driver_tree.ts";
import { LogHub } from "./log_hub.ts";

const FILE = join(dirname(fileURLToPath(import.meta.url)), "../tests/fixtures/tree.yaml");
const HEADER = "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: t}\n";

function build(exports: string) {
  return buildDriverTree(parseExporterConfig(`${HEADER}export:\n${exports}`, FILE), new LogHub());
}

async function failure(exports: string): Promise<string> {
  const err = await build(exports).then(() => undefined, (e) => e);
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
  return err.message;
}

Deno.test("a ref export is the same driver under a second name", async () => {
  const tree = await build(
    "  power: {type: MockPower}\n  mains: {ref: power, description: Mains}\n",
  );
  const [, power, mains] = tree.nodes;
  assert.equal(mains.name, "mains");
  assert.equal(mains.driver, power.driver);
  assert.equal(mains.description, "Mains");
  assert.equal(tree.reports()[2].labels["jumpstarter.dev/client"], power.driver.client);
  await tree.close();
});

Deno.test("config mistakes found while building name the export", async () => {
  assert.match(
    await failure("  power: {type: MockPowr}\n"),
    /tree\.yaml: export\.power\.type: unknown driver type "MockPowr" \(did you mean "MockPower"/,
  );
  assert.match(
    await failure("  power: {type: MockPower, config: {volts: 5}}\n"),
    /export\.power\.config: unknown key "volts"/,
  );
  assert.match(
    await failure("  mains: {ref: nothing}\n"),
    /export\.mains\.ref: "nothing" is not another export/,
  );
  assert.match(
    await failure("  relay: {type: ./missing_driver.ts#createRelay}\n"),
    /export\.relay\.type: cannot import driver module file:\/\/.*missing_driver\.ts/,
  );
  assert.match(
    await failure("  relay: {type: ./fixture_driver.ts#createRelay}\n"),
    /has no function export "createRelay" \(it exports .*createFixture/,
  );
});

Deno.test("drivers built before a failing one are closed", async () => {
  const counter = globalThis as { fixtureClosed?: number };
  const before = counter.fixtureClosed ?? 0;
  const message = await failure(
    "  fixture: {type: ./fixture_driver.ts#createFixture}\n  power: {type: MockPowr}\n",
  );
  assert.match(message, /MockPowr/);
  assert.equal(counter.fixtureClosed, before + 1, "the fixture built first was closed");
});

Deno.test("a config without drivers is refused when it is to be served", async () => {
  assert.match(await failure(" {}\n"), /tree\.yaml: export: lists no drivers: add some/);
});
