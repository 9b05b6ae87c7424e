import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { DriverCallRequestSchema, ExporterService } from "../proto/mod.ts";
import { callUnary, createChannel, type GrpcServer, leanUnary, serve } from "./mod.ts";
import { envelope } from "./frame_codec.ts";

const DRIVER_CALL = "/jumpstarter.v1.ExporterService/DriverCall";
const seen: { path: string; signal?: AbortSignal }[] = [];

// "echo" answers with its method name and the request's x-token metadata; "sleep" waits for its
// signal; "big" answers with more than the server's limit; "fail" throws a plain Error.
async function driverCall(
  req: { method: string; uuid: string },
  call: { signal: AbortSignal; metadata: Headers },
  path: string,
) {
  seen.push({ path, signal: call.signal });
  if (req.method === "sleep") {
    await new Promise((resolve) => call.signal.addEventListener("abort", resolve));
  }
  if (req.method === "fail") throw new Error("the relay is stuck");
  const value = req.method === "big"
    ? "x".repeat(2 * 1024 * 1024)
    : `${req.method}:${call.metadata.get("x-token") ?? ""}`;
  return { uuid: req.uuid, result: { kind: { case: "stringValue" as const, value } } };
}

async function withServer(fn: (server: GrpcServer, target: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "jmp-unary-"));
  const target = `unix:${join(dir, "s.sock")}`;
  const server = await serve({
    address: target,
    maxMessageBytes: 1024 * 1024,
    routes: (r) =>
      r.service(ExporterService, {
        driverCall: (req, ctx) =>
          driverCall(req, { signal: ctx.signal, metadata: ctx.requestHeader }, "connect"),
      }),
    unary: [
      leanUnary(ExporterService.method.driverCall, (req, call) => driverCall(req, call, "lean")),
    ],
  });
  seen.length = 0;
  try {
    await fn(server, target);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// A raw HTTP/2 call: returns the response headers and trailers as one record.
async function rawCall(
  target: string,
  headers: http2.OutgoingHttpHeaders,
  body: Uint8Array,
): Promise<Record<string, unknown>> {
  const session = http2.connect("http://localhost", {
    createConnection: () => net.connect(target.slice("unix:".length)),
  });
  try {
    const req = session.request({
      ":method": "POST",
      ":path": DRIVER_CALL,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const out: Record<string, unknown> = {};
    req.on("response", (h) => Object.assign(out, h));
    req.on("trailers", (h) => Object.assign(out, h));
    req.on("data", () => {});
    req.end(body);
    await new Promise((resolve) => req.on("close", resolve));
    return out;
  } finally {
    session.destroy();
  }
}

const request = (method: string) =>
  toBinary(DriverCallRequestSchema, create(DriverCallRequestSchema, { uuid: "u-1", method }));

Deno.test("callUnary reaches the lean path and passes metadata both ways", async () => {
  await withServer(async (_server, target) => {
    const channel = createChannel(target);
    try {
      const res = await callUnary(channel, ExporterService.method.driverCall, {
        uuid: "u-1",
        method: "echo",
      }, { metadata: { "x-token": "t0k" } });
      assert.equal(res.uuid, "u-1");
      assert.deepEqual(res.result?.kind, { case: "stringValue", value: "echo:t0k" });
      assert.deepEqual(seen.map((s) => s.path), ["lean"]);
    } finally {
      channel.close();
    }
  });
});

Deno.test("a connect-es client gets the same answers from the lean path", async () => {
  await withServer(async (_server, target) => {
    const channel = createChannel(target);
    try {
      const client = createClient(ExporterService, channel.transport);
      const res = await client.driverCall({ uuid: "u-1", method: "echo" });
      assert.deepEqual(res.result?.kind, { case: "stringValue", value: "echo:" });
      const err = await client.driverCall({ uuid: "u-1", method: "fail" }).catch((e) => e);
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.Unknown);
      assert.equal(err.rawMessage, "the relay is stuck");
      assert.deepEqual(seen.map((s) => s.path), ["lean", "lean"]);
    } finally {
      channel.close();
    }
  });
});

Deno.test("compressed requests are left to connect-es, which serves the same method", async () => {
  await withServer(async (_server, target) => {
    const body = gzipSync(request("echo"));
    const framed = envelope(body);
    framed[0] = 1; // the compressed flag
    const out = await rawCall(target, { "grpc-encoding": "gzip" }, framed);
    assert.equal(out["grpc-status"], "0");
    assert.deepEqual(seen.map((s) => s.path), ["connect"]);
  });
});

Deno.test("bad requests get a status, and the server keeps serving", async () => {
  await withServer(async (_server, target) => {
    const cases: [string, Uint8Array, string, RegExp][] = [
      ["no message", new Uint8Array(0), String(Code.Unimplemented), /missing input message/],
      [
        "two messages",
        new Uint8Array([...envelope(request("a")), ...envelope(request("b"))]),
        String(Code.Unimplemented),
        /extra input message/,
      ],
      [
        "a cut message",
        envelope(request("echo")).subarray(0, 8),
        String(Code.InvalidArgument),
        /ended inside a message/,
      ],
      [
        "not protobuf",
        envelope(new Uint8Array([0xff, 0xff, 0xff])),
        String(Code.InvalidArgument),
        /cannot decode the jumpstarter.v1.DriverCallRequest/,
      ],
      [
        "compressed without encoding",
        new Uint8Array([1, 0, 0, 0, 0]),
        String(Code.InvalidArgument),
        /compressed message without a negotiated grpc-encoding/,
      ],
      [
        "too large",
        envelope(new Uint8Array(2 * 1024 * 1024)),
        String(Code.ResourceExhausted),
        /exceeds|larger|limit/,
      ],
    ];
    for (const [name, body, code, message] of cases) {
      const out = await rawCall(target, {}, body);
      assert.equal(out["grpc-status"], code, `${name}: ${out["grpc-message"]}`);
      assert.match(decodeURIComponent(String(out["grpc-message"])), message, name);
    }
    const channel = createChannel(target);
    try {
      const big = await callUnary(channel, ExporterService.method.driverCall, { method: "big" })
        .catch((e) => e);
      assert.equal(big.code, Code.ResourceExhausted, big.message);
      const ok = await callUnary(channel, ExporterService.method.driverCall, { method: "echo" });
      assert.equal(ok.result?.kind.value, "echo:");
    } finally {
      channel.close();
    }
  });
});

Deno.test("deadlines and cancellation end the call on both sides", async () => {
  await withServer(async (_server, target) => {
    const channel = createChannel(target);
    try {
      const late = await callUnary(channel, ExporterService.method.driverCall, {
        method: "sleep",
      }, { timeoutMs: 50 }).catch((e) => e);
      assert.equal(late.code, Code.DeadlineExceeded, late.message);
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 50);
      const cancelled = await callUnary(channel, ExporterService.method.driverCall, {
        method: "sleep",
      }, { signal: abort.signal }).catch((e) => e);
      assert.equal(cancelled.code, Code.Canceled, cancelled.message);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(seen.length, 2);
      assert.ok(seen.every((s) => s.signal?.aborted), "the handlers were told to stop");
      // The server's own deadline answers a caller that keeps waiting.
      const out = await rawCall(target, { "grpc-timeout": "50m" }, envelope(request("sleep")));
      assert.equal(out["grpc-status"], String(Code.DeadlineExceeded));
    } finally {
      channel.close();
    }
  });
});

Deno.test("a call whose connection is lost fails with UNAVAILABLE naming the address", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-unary-"));
  const path = join(dir, "s.sock");
  // A server that drops the connection as soon as a call arrives.
  const server = http2.createServer();
  server.on("stream", (stream) => stream.session?.destroy());
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const channel = createChannel(`unix:${path}`);
  try {
    const err = await callUnary(channel, ExporterService.method.driverCall, { method: "echo" })
      .catch((e) => e);
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal(Code[err.code], Code[Code.Unavailable], err.message);
    assert.match(err.message, /the connection to unix:.* was lost before the call finished/);
  } finally {
    channel.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});
