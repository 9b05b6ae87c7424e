import { strict as assert } from "node:assert";
import { PowerClient } from "../drivers/power/client.ts";
import { FIXTURE_CLIENT } from "../tests/fixtures/fixture_driver.ts";
import { withLocalExporter } from "../tests/fixtures/local_exporter.ts";
import { AllowList, connectExporter, DriverCallError, DriverClient } from "./mod.ts";

const CONFIG = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: client-test }
export:
  power: { type: MockPower }
  fixture: { type: ./fixture_driver.ts#createFixture }
`;

function withExporter(test: (address: string) => Promise<void>) {
  return withLocalExporter(CONFIG, ({ address }) => test(address));
}

Deno.test("built-in drivers get their typed clients and calls reach the driver", async () => {
  await withExporter(async (address) => {
    await using exporter = await connectExporter(address);
    const power = exporter.root.child("power");
    assert.ok(power instanceof PowerClient);
    await power.on();
    const readings = [];
    for await (const r of power.read()) readings.push(r);
    assert.deepEqual(readings, [{ voltage: 0, current: 0 }, { voltage: 5, current: 2 }]);
    const err = await power.call("explode").catch((e) => e);
    assert.ok(err instanceof DriverCallError);
    assert.match(err.message, /^power\.explode: method "explode" not found/);
    assert.throws(() => exporter.root.child("powr"), /no driver "powr" \(it has: power, fixture\)/);
  });
});

Deno.test("a client module refused by the allow-list is never evaluated; allowed, it is", async () => {
  const marker = globalThis as { fixtureClientEvaluated?: boolean };
  assert.equal(marker.fixtureClientEvaluated, undefined);
  await withExporter(async (address) => {
    const notices: string[] = [];
    {
      await using exporter = await connectExporter(address, {
        onNotice: (m) => notices.push(m),
      });
      const fixture = exporter.root.child("fixture");
      assert.equal(fixture.constructor, DriverClient, "the generic client stands in");
      assert.equal(await fixture.call("greet", "bob"), "hello, bob", "generic calls still work");
    }
    assert.equal(marker.fixtureClientEvaluated, undefined, "the module was not imported");
    assert.equal(notices.length, 1);
    assert.ok(notices[0].includes(`"${FIXTURE_CLIENT}"`), "the notice names what to allow");
    assert.match(notices[0], /drivers\.allow .* JMP_DRIVERS_ALLOW/);

    const allow = new AllowList([`${new URL("./", FIXTURE_CLIENT).href}*`]);
    await using allowed = await connectExporter(address, { allow });
    const typed = allowed.root.child("fixture") as DriverClient & {
      greet(n: string): Promise<string>;
    };
    assert.equal(marker.fixtureClientEvaluated, true);
    assert.equal(typed.constructor.name, "FixtureClient");
    assert.equal(await typed.greet("eve"), "hello, eve");
  });
});
