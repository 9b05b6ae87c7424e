import { strict as assert } from "node:assert";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { fromValue, toValue } from "../drivers/framework/mod.ts";
import { ExporterService, ExporterStatus } from "../proto/mod.ts";
import { type Channel, createChannel, openByteStream } from "../transport/mod.ts";
import { withLocalExporter } from "../tests/fixtures/local_exporter.ts";
import type { LocalExporter } from "./mod.ts";

const CONFIG = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: session-test }
export:
  fixture:
    type: ./fixture_driver.ts#createFixture
    config: { greeting: hi }
    methods_description: { greet: "Say hi" }
  group:
    children:
      power:
        type: MockPower
`;

function withExporter(
  test: (ctx: {
    service: Client<typeof ExporterService>;
    channel: Channel;
    uuidOf: (name: string) => string;
    exporter: LocalExporter;
  }) => Promise<void>,
) {
  return withLocalExporter(CONFIG, async ({ address, exporter }) => {
    const channel = createChannel(address, { tls: false });
    try {
      const service = createClient(ExporterService, channel.transport);
      const uuidOf = (name: string) =>
        exporter.session.tree.nodes.find((n) => n.name === name)!.uuid;
      await test({ service, channel, uuidOf, exporter });
    } finally {
      channel.close();
    }
  });
}

async function rejects(promise: Promise<unknown>, code: Code, text: RegExp) {
  const err = await promise.then(() => undefined, (e) => e);
  assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${err}`);
  assert.equal(Code[err.code], Code[code], err.message);
  assert.match(err.rawMessage, text);
}

Deno.test("GetReport lists the root first, then every export with its parent and labels", async () => {
  await withExporter(async ({ service, uuidOf }) => {
    const report = await service.getReport({});
    const [root, fixture, group, power] = report.reports;
    assert.equal(report.uuid, root.uuid);
    assert.equal(root.parentUuid, undefined);
    assert.equal(
      root.labels["jumpstarter.dev/client"],
      "jumpstarter_driver_composite.client.CompositeClient",
    );
    assert.equal(report.labels["jumpstarter.dev/name"], "session-test");
    assert.equal(fixture.uuid, uuidOf("fixture"));
    assert.equal(fixture.parentUuid, root.uuid);
    assert.equal(fixture.labels["jumpstarter.dev/name"], "fixture");
    assert.equal(fixture.description, "fixture driver");
    assert.equal(
      fixture.methodsDescription.greet,
      "Say hi",
      "the config overrides the driver's help",
    );
    assert.equal(fixture.methodsDescription.count, "Count up to n");
    assert.equal(group.labels["jumpstarter.dev/name"], "group");
    assert.equal(power.parentUuid, group.uuid);
    assert.equal(
      power.labels["jumpstarter.dev/client"],
      "jumpstarter_driver_power.client.PowerClient",
    );
  });
});

Deno.test("DriverCall passes positional arguments and results as google.protobuf.Value", async () => {
  await withExporter(async ({ service, uuidOf }) => {
    const uuid = uuidOf("fixture");
    const greet = await service.driverCall({ uuid, method: "greet", args: [toValue("ada")] });
    assert.equal(fromValue(greet.result), "hi, ada");
    const values = [1.5, "text", true, null, [1, "two"], { nested: { list: [null] } }];
    const echo = await service.driverCall({ uuid, method: "echo", args: values.map(toValue) });
    assert.deepEqual(fromValue(echo.result), values);
    assert.notEqual(echo.uuid, uuid, "each response has a fresh uuid, as upstream");
  });
});

Deno.test("wrong uuid, method, kind or arguments get NOT_FOUND / INVALID_ARGUMENT", async () => {
  await withExporter(async ({ service, uuidOf }) => {
    const uuid = uuidOf("fixture");
    await rejects(
      service.driverCall({ uuid: "nope", method: "greet" }),
      Code.NotFound,
      /no driver with uuid "nope"/,
    );
    await rejects(
      service.driverCall({ uuid, method: "gret" }),
      Code.NotFound,
      /method "gret" not found on driver fixture \(it has: greet, echo/,
    );
    await rejects(
      service.driverCall({ uuid, method: "count" }),
      Code.NotFound,
      /called with StreamingDriverCall/,
    );
    await rejects(
      service.driverCall({ uuid, method: "greet", args: [toValue(1)] }),
      Code.InvalidArgument,
      /name must be a string, got 1/,
    );
    await rejects(
      service.driverCall({ uuid, method: "greet", args: [toValue("a"), toValue("b")] }),
      Code.InvalidArgument,
      /at most 1 argument/,
    );
    await rejects(
      service.driverCall({ uuid, method: "fail" }),
      Code.InvalidArgument,
      /fail was asked to fail/,
    );
  });
});

Deno.test("a driver that throws answers UNKNOWN and the exporter keeps serving", async () => {
  await withExporter(async ({ service, uuidOf }) => {
    const uuid = uuidOf("fixture");
    await rejects(
      service.driverCall({ uuid, method: "crash" }),
      Code.Unknown,
      /undefined is not a function/,
    );
    const after = await service.driverCall({ uuid, method: "greet" });
    assert.equal(fromValue(after.result), "hi, world");
  });
});

Deno.test("StreamingDriverCall yields one response per item", async () => {
  await withExporter(async ({ service, uuidOf }) => {
    const items = [];
    for await (
      const res of service.streamingDriverCall({
        uuid: uuidOf("fixture"),
        method: "count",
        args: [toValue(3)],
      })
    ) {
      items.push(fromValue(res.result));
    }
    assert.deepEqual(items, [{ i: 0 }, { i: 1 }, { i: 2 }]);
    const power = [];
    for await (
      const res of service.streamingDriverCall({ uuid: uuidOf("power"), method: "read" })
    ) {
      power.push(fromValue(res.result));
    }
    assert.deepEqual(power, [{ voltage: 0, current: 0 }, { voltage: 5, current: 2 }]);
  });
});

Deno.test("LogStream delivers driver log lines with uuid and severity", async () => {
  await withExporter(async ({ service, uuidOf }) => {
    const abort = new AbortController();
    const stream = service.logStream({}, { signal: abort.signal })[Symbol.asyncIterator]();
    // The subscription starts with the call; give it a moment to reach the server.
    const first = stream.next();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await service.driverCall({
      uuid: uuidOf("fixture"),
      method: "log",
      args: [toValue("probe 1")],
    });
    const { value } = await first;
    assert.equal(value.message, "probe 1");
    assert.equal(value.severity, "INFO");
    assert.equal(value.uuid, uuidOf("fixture"));
    abort.abort();
  });
});

Deno.test("Reset resets every driver; GetStatus and EndSession answer", async () => {
  await withExporter(async ({ service, uuidOf, exporter }) => {
    await service.reset({});
    const resets = await service.driverCall({ uuid: uuidOf("fixture"), method: "resets" });
    assert.equal(fromValue(resets.result), 1);
    const status = await service.getStatus({});
    assert.equal(status.status, ExporterStatus.LEASE_READY);
    const end = await service.endSession({});
    assert.equal(end.success, true);
    exporter.session.setStatus(ExporterStatus.AVAILABLE, "no lease");
    const moved = await service.getStatus({});
    assert.equal(moved.status, ExporterStatus.AVAILABLE);
    assert.equal(moved.previousStatus, ExporterStatus.LEASE_READY);
    assert.equal(moved.statusVersion, 1n);
    await rejects(
      service.driverCall({ uuid: uuidOf("fixture"), method: "greet" }),
      Code.FailedPrecondition,
      /not ready for driver calls \(status: AVAILABLE\)/,
    );
  });
});

Deno.test("cancelling a call aborts the driver's work", async () => {
  await withExporter(async ({ service, uuidOf, exporter }) => {
    const seen: string[] = [];
    const abort = new AbortController();
    const logs = exporter.session.logs.subscribe(abort.signal)[Symbol.asyncIterator]();
    const call = service.driverCall({ uuid: uuidOf("fixture"), method: "wait" }, {
      signal: abort.signal,
    });
    seen.push((await logs.next()).value!.message);
    abort.abort();
    await rejects(call, Code.Canceled, /./);
    assert.deepEqual(seen, ["waiting"]);
    // The driver saw the abort: a new call still works, nothing is stuck.
    const after = await service.driverCall({ uuid: uuidOf("fixture"), method: "greet" });
    assert.equal(fromValue(after.result), "hi, world");
  });
});

Deno.test("a byte stream named by the request header reaches the driver method", async () => {
  await withExporter(async ({ channel, uuidOf }) => {
    const request = JSON.stringify({ kind: "driver", uuid: uuidOf("fixture"), method: "upper" });
    const call = await openByteStream(channel, { metadata: { request } });
    await call.stream.send(new TextEncoder().encode("hello "));
    await call.stream.send(new TextEncoder().encode("board"));
    await call.stream.close();
    let text = "";
    for await (const chunk of call.stream) text += new TextDecoder().decode(chunk);
    await call.done;
    assert.equal(text, "HELLO BOARD");

    const wrong = JSON.stringify({ kind: "driver", uuid: uuidOf("fixture"), method: "greet" });
    const bad = await openByteStream(channel, { metadata: { request: wrong } });
    await rejects(bad.done, Code.NotFound, /called with DriverCall, not a byte stream/);
    const none = await openByteStream(channel, {});
    await rejects(none.done, Code.InvalidArgument, /missing "request" metadata/);
  });
});
