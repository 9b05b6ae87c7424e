import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError } from "../../config/mod.ts";
import {
  DeviceUnavailableError,
  DriverError,
  DriverTimeoutError,
  NotImplementedError,
} from "../framework/mod.ts";
import { build, invoke, readAll } from "../../tests/fixtures/driver_harness.ts";
import { createHttpPower } from "./mod.ts";

/** A PDU on 127.0.0.1 with one outlet under /api, recording every request it gets. */
async function withPdu(
  fn: (url: string, pdu: { requests: string[]; outlet: string }) => Promise<void>,
) {
  const pdu = { requests: [] as string[], outlet: "off" };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      pdu.requests.push(
        [req.method, req.url, body, req.headers.authorization, req.headers["x-key"]]
          .filter(Boolean).join(" "),
      );
      switch (req.url) {
        case "/api/outlets/1/on":
          pdu.outlet = "on";
          return res.end("ok");
        case "/api/outlets/1/off":
          pdu.outlet = "off";
          return res.end("ok");
        case "/api/meter":
          return res.end(JSON.stringify({ voltage: 230, current: pdu.outlet === "on" ? 0.1 : 0 }));
        case "/api/meter-text":
          return res.end("230 V");
        case "/api/broken":
          return res.writeHead(500).end(`relay fault ${"x".repeat(300)}`);
        case "/api/hang":
          return; // never answers
        default:
          return res.writeHead(404).end("no such page");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api`, pdu);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

Deno.test("HttpPower switches the outlet with the configured requests", async () => {
  await withPdu(async (url, pdu) => {
    const power = await build(createHttpPower, {
      url,
      on: "/outlets/1/on",
      off: { method: "put", path: "outlets/1/off", body: "now", headers: { "X-Key": "k1" } },
      username: "admin",
      password: "secret",
    });
    assert.equal(power.client, "jumpstarter_driver_power.client.PowerClient");
    await invoke(power, "on");
    assert.equal(pdu.outlet, "on");
    await invoke(power, "off");
    assert.equal(pdu.outlet, "off");
    const basic = `Basic ${btoa("admin:secret")}`;
    assert.deepEqual(pdu.requests, [
      `POST /api/outlets/1/on ${basic}`,
      `PUT /api/outlets/1/off now ${basic} k1`,
    ]);
  });
});

Deno.test("HttpPower read parses the meter's JSON", async () => {
  await withPdu(async (url, pdu) => {
    const power = await build(createHttpPower, {
      url: `${url}/`,
      on: "outlets/1/on",
      off: "outlets/1/off",
      read: { path: "/meter" },
    });
    await invoke(power, "on");
    assert.deepEqual(await readAll(power), [{ voltage: 230, current: 0.1 }]);
    assert.equal(pdu.requests.at(-1), "GET /api/meter");
    const text = await build(createHttpPower, { url, on: "/x", off: "/x", read: "/meter-text" });
    await assert.rejects(() => readAll(text), /read: expected JSON \{"voltage": V, "current": A\}/);
    const none = await build(createHttpPower, { url, on: "/x", off: "/x" });
    await assert.rejects(() => readAll(none), NotImplementedError);
  });
});

Deno.test("an HTTP error answer is a DriverError with its status and body", async () => {
  await withPdu(async (url) => {
    const power = await build(createHttpPower, { url, on: "/broken", off: "/missing" });
    const err = await Promise.resolve(invoke(power, "on")).then(() => undefined, (e) => e);
    assert.ok(err instanceof DriverError);
    assert.match(
      err.message,
      /^on: POST http:\/\/127\.0\.0\.1:\d+\/api\/broken answered 500: relay fault x+$/,
    );
    assert.equal(err.message.split(": ").at(-1)!.length, 200, "the body is cut at 200 chars");
    await assert.rejects(async () => await invoke(power, "off"), /answered 404: no such page/);
  });
});

Deno.test("a PDU that does not answer in time is a DriverTimeoutError", async () => {
  await withPdu(async (url) => {
    const power = await build(createHttpPower, { url, on: "/hang", off: "/hang", timeout: 0.2 });
    await assert.rejects(
      async () => await invoke(power, "on"),
      (e: unknown) =>
        e instanceof DriverTimeoutError &&
        /^on: .*\/api\/hang did not answer within 0.2s$/.test(e.message),
    );
  });
});

Deno.test("aborting the call cancels the request", async () => {
  await withPdu(async (url) => {
    const power = await build(createHttpPower, { url, on: "/hang", off: "/hang" });
    const abort = new AbortController();
    const call = Promise.resolve(invoke(power, "on", [], { signal: abort.signal }));
    abort.abort(new Error("client went away"));
    await assert.rejects(call, /client went away/);
  });
});

Deno.test("an unreachable PDU is unavailable, naming its URL", async () => {
  let url = "";
  await withPdu((u) => Promise.resolve(void (url = u))); // a port nobody listens on any more
  const power = await build(createHttpPower, { url, on: "/outlets/1/on", off: "/x" });
  await assert.rejects(
    async () => await invoke(power, "on"),
    (e: unknown) =>
      e instanceof DeviceUnavailableError &&
      e.message.startsWith(`on: cannot reach ${url}/outlets/1/on: `),
  );
});

Deno.test("HttpPower config mistakes name their YAML path", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ on: "/on", off: "/off" }, "test.yaml: export.power.config.url: is required"],
    [{ url: "pdu.lab", on: "/on", off: "/off" }, "config.url: must be an absolute URL"],
    [
      { url: "ftp://pdu.lab", on: "/on", off: "/off" },
      "config.url: must be an http:// or https://",
    ],
    [
      { url: "http://a:b@pdu.lab", on: "/on", off: "/off" },
      "config.url: must not hold credentials",
    ],
    [{ url: "http://pdu.lab", off: "/off" }, "export.power.config.on: is required"],
    [{ url: "http://pdu.lab", on: { method: "POST" }, off: "/off" }, "config.on.path: is required"],
    [{ url: "http://pdu.lab", on: { path: "/on", bdy: "1" }, off: "/off" }, 'unknown key "bdy"'],
    [
      { url: "http://pdu.lab", on: "/on", off: "/off", password: "x" },
      "config.password: needs a username",
    ],
  ];
  for (const [config, message] of cases) {
    await assert.rejects(
      () => build(createHttpPower, config),
      (e: unknown) => e instanceof ConfigError && e.message.includes(message),
      message,
    );
  }
});
