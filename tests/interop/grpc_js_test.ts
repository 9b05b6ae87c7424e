// @grpc/grpc-js, an independent gRPC implementation, calling our server over plaintext TCP, TLS,
// mutual TLS and a Unix socket: unary, server streaming, rich errors, bidi on both Stream paths.

import { strict as assert } from "node:assert";
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { anyUnpack, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  ErrorInfoSchema,
  ExporterService,
  FrameType,
  RouterService,
  StatusSchema,
  type StreamRequest,
  StreamRequestSchema,
} from "../../proto/mod.ts";
import {
  type Address,
  type ByteStreamHandler,
  serve,
  type ServerTlsOptions,
} from "../../transport/mod.ts";
import { makeTestCerts, type TestCerts } from "../fixtures/certs.ts";
import {
  echoByteStream,
  INTEROP_ERROR,
  INTEROP_REPORT,
  interopRoutes,
  interopUnary,
} from "./interop_service.ts";
import { GrpcJsClient, isServiceError } from "./grpc_js_client.ts";

const MiB = 1024 * 1024;
const CHUNK_BYTES = 32 * 1024;

interface Transport {
  name: string;
  unix?: boolean;
  /** Server TLS and the grpc-js credentials that go with it; plaintext when absent. */
  tls?: (certs: TestCerts) => { server: ServerTlsOptions; client: grpc.ChannelCredentials };
  /** How much the lean-path bidi test pushes through. */
  leanBytes: number;
}

const TRANSPORTS: Transport[] = [
  { name: "plaintext TCP", leanBytes: 64 * MiB },
  {
    name: "TLS",
    tls: (certs) => ({
      server: { cert: certs.serverCert, key: certs.serverKey },
      client: grpc.credentials.createSsl(Buffer.from(certs.caCert)),
    }),
    leanBytes: 64 * MiB,
  },
  {
    name: "mutual TLS",
    tls: (certs) => ({
      server: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert },
      client: grpc.credentials.createSsl(
        Buffer.from(certs.caCert),
        Buffer.from(certs.clientKey),
        Buffer.from(certs.clientCert),
      ),
    }),
    leanBytes: 64 * MiB,
  },
  { name: "a Unix socket", unix: true, leanBytes: 64 * MiB },
];

function targetOf(address: Address, tls: boolean): string {
  if (address.kind === "unix") return `unix:${address.path}`;
  // The server certificate names localhost; grpc-js checks the name against the target.
  return `${tls ? "localhost" : address.host}:${address.port}`;
}

/** Serves the interop services on `transport` and hands a connected grpc-js client to `fn`. */
async function withGrpcJs(
  transport: Transport,
  byteStream: ByteStreamHandler | undefined,
  fn: (client: GrpcJsClient) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "jmp-grpcjs-"));
  const certs = transport.tls ? makeTestCerts() : undefined;
  try {
    const tls = certs && transport.tls?.(certs);
    const server = await serve({
      address: transport.unix ? `unix:${join(dir, "s.sock")}` : "127.0.0.1:0",
      routes: interopRoutes,
      byteStream,
      unary: interopUnary,
      tls: tls?.server,
    });
    try {
      const client = new GrpcJsClient(
        targetOf(server.address, tls !== undefined),
        tls?.client ?? grpc.credentials.createInsecure(),
      );
      try {
        await fn(client);
      } finally {
        client.close();
      }
    } finally {
      await server.close();
    }
  } finally {
    certs?.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function expectServiceError(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (err) {
    if (isServiceError(err)) return err;
    throw err;
  }
  assert.fail("the call succeeded but an error status was expected");
}

/**
 * Pushes `data` through RouterService.Stream in 32 KiB DATA frames while reading the echo, then
 * says GOAWAY and half-closes. Honours grpc-js backpressure on the sending side.
 */
async function echoThroughStream(client: GrpcJsClient, data: Uint8Array) {
  const call = client.bidi(RouterService.method.stream);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  const frame = (frameType: FrameType, payload?: Uint8Array): StreamRequest =>
    create(StreamRequestSchema, { frameType, payload });
  const send = async () => {
    for (let offset = 0; offset < data.length; offset += CHUNK_BYTES) {
      const more = call.write(frame(FrameType.DATA, data.subarray(offset, offset + CHUNK_BYTES)));
      if (!more) await once(call, "drain");
    }
    call.write(frame(FrameType.GOAWAY));
    call.end();
  };
  const receive = async () => {
    const hash = createHash("sha256");
    let bytes = 0;
    let goaway = false;
    for await (const response of call) {
      if (response.frameType === FrameType.GOAWAY) {
        goaway = true;
      } else if (response.frameType === FrameType.DATA) {
        hash.update(response.payload);
        bytes += response.payload.length;
      }
    }
    return { bytes, sha256: hash.digest("hex"), goaway };
  };
  const [, received] = await Promise.all([send(), receive()]);
  return { ...received, status: await status };
}

async function assertEchoes(client: GrpcJsClient, size: number): Promise<void> {
  // Random bytes, so that a dropped, duplicated or reordered chunk changes the hash.
  const data = randomBytes(size);
  const result = await echoThroughStream(client, data);
  assert.equal(result.bytes, data.length);
  assert.equal(result.sha256, createHash("sha256").update(data).digest("hex"));
  assert.ok(result.goaway, "the server answers GOAWAY with GOAWAY");
  assert.equal(result.status.code, grpc.status.OK, result.status.details);
}

for (const transport of TRANSPORTS) {
  Deno.test(`grpc-js completes unary, server-streaming and error calls over ${transport.name}`, async (t) => {
    await withGrpcJs(transport, undefined, async (client) => {
      await t.step("GetReport returns the exporter's report", async () => {
        const report = await client.unary(ExporterService.method.getReport, {});
        assert.equal(report.uuid, INTEROP_REPORT.uuid);
        assert.deepEqual(report.labels, INTEROP_REPORT.labels);
        assert.equal(report.motd, INTEROP_REPORT.motd);
        assert.equal(report.reports.length, 1);
        assert.equal(report.reports[0].uuid, INTEROP_REPORT.driverUuid);
        assert.deepEqual(report.reports[0].labels, {
          "jumpstarter.dev/client": INTEROP_REPORT.driverClient,
          "jumpstarter.dev/name": "power",
        });
      });

      await t.step("DriverCall echo round-trips a google.protobuf.Value struct", async () => {
        const arg: JsonValue = {
          name: "power",
          volts: 5.5,
          on: true,
          none: null,
          channels: [1, "two", { three: [3] }],
        };
        const response = await client.unary(ExporterService.method.driverCall, {
          uuid: INTEROP_REPORT.driverUuid,
          method: "echo",
          args: [fromJson(ValueSchema, arg)],
        });
        assert.equal(response.uuid, INTEROP_REPORT.driverUuid);
        assert.ok(response.result);
        assert.deepEqual(toJson(ValueSchema, response.result), arg);
      });

      await t.step("StreamingDriverCall count 1000 streams 0..999 in order", async () => {
        const call = client.serverStream(ExporterService.method.streamingDriverCall, {
          uuid: INTEROP_REPORT.driverUuid,
          method: "count",
          args: [{ kind: { case: "numberValue", value: 1000 } }],
        });
        const seen: number[] = [];
        for await (const response of call) {
          const kind = response.result?.kind;
          assert.equal(kind?.case, "numberValue");
          seen.push(kind.value);
        }
        assert.deepEqual(seen, Array.from({ length: 1000 }, (_, i) => i));
      });

      await t.step(
        "DriverCall fail reports FAILED_PRECONDITION with an ErrorInfo detail",
        async () => {
          const err = await expectServiceError(client.unary(ExporterService.method.driverCall, {
            uuid: INTEROP_REPORT.driverUuid,
            method: "fail",
          }));
          assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
          assert.equal(err.details, INTEROP_ERROR.message);
          assert.match(err.message, /power supply is in a fault state/);
          const [bin] = err.metadata.get("grpc-status-details-bin");
          assert.ok(bin instanceof Buffer, "grpc-status-details-bin trailer is present");
          const status = fromBinary(StatusSchema, bin);
          assert.equal(status.code, grpc.status.FAILED_PRECONDITION);
          assert.equal(status.message, INTEROP_ERROR.message);
          const info = anyUnpack(status.details[0], ErrorInfoSchema);
          assert.ok(info, "details[0] is a google.rpc.ErrorInfo");
          assert.equal(info.reason, INTEROP_ERROR.reason);
          assert.equal(info.domain, INTEROP_ERROR.domain);
          assert.deepEqual(info.metadata, { driver: "power" });
        },
      );

      await t.step("DriverCall of an unknown method reports NOT_FOUND", async () => {
        const err = await expectServiceError(client.unary(ExporterService.method.driverCall, {
          method: "explode",
        }));
        assert.equal(err.code, grpc.status.NOT_FOUND);
      });
    });
  });

  const mib = transport.leanBytes / MiB;
  Deno.test(`grpc-js echoes ${mib} MiB through the lean Stream path over ${transport.name}`, async () => {
    await withGrpcJs(
      transport,
      echoByteStream,
      (client) => assertEchoes(client, transport.leanBytes),
    );
  });

  Deno.test(`grpc-js echoes 4 MiB through the connect-es Stream path over ${transport.name}`, async () => {
    await withGrpcJs(transport, undefined, (client) => assertEchoes(client, 4 * MiB));
  });
}

/** GetReport from a grpc-js client with `credentials` against a TLS server; returns its error. */
async function refusedHandshake(
  serverTls: (certs: TestCerts) => ServerTlsOptions,
  credentials: (certs: TestCerts) => grpc.ChannelCredentials,
): Promise<grpc.ServiceError> {
  const certs = makeTestCerts();
  try {
    const server = await serve({
      address: "127.0.0.1:0",
      routes: interopRoutes,
      tls: serverTls(certs),
    });
    try {
      assert.equal(server.address.kind, "tcp");
      const client = new GrpcJsClient(`localhost:${server.address.port}`, credentials(certs));
      try {
        // The deadline only bounds a failing run; the handshake error must come first.
        return await expectServiceError(
          client.unary(ExporterService.method.getReport, {}, { deadline: Date.now() + 20_000 }),
        );
      } finally {
        client.close();
      }
    } finally {
      await server.close();
    }
  } finally {
    certs.remove();
  }
}

Deno.test("grpc-js trusting another CA fails with UNAVAILABLE instead of hanging", async () => {
  const err = await refusedHandshake(
    (certs) => ({ cert: certs.serverCert, key: certs.serverKey }),
    (certs) => grpc.credentials.createSsl(Buffer.from(certs.otherCaCert)),
  );
  assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
});

Deno.test("grpc-js without a client certificate is refused by a mutual TLS server", async () => {
  const err = await refusedHandshake(
    (certs) => ({ cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert }),
    (certs) => grpc.credentials.createSsl(Buffer.from(certs.caCert)),
  );
  assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
});

Deno.test("grpc-js deadline cuts a long server stream with DEADLINE_EXCEEDED", async () => {
  await withGrpcJs(TRANSPORTS[0], undefined, async (client) => {
    const call = client.serverStream(ExporterService.method.streamingDriverCall, {
      method: "count",
      args: [{ kind: { case: "numberValue", value: 10_000_000 } }],
    }, { deadline: Date.now() + 1 });
    const err = await expectServiceError((async () => {
      for await (const _ of call) { /* drain */ }
    })());
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    // The server is still serving this client afterwards.
    const report = await client.unary(ExporterService.method.getReport, {});
    assert.equal(report.uuid, INTEROP_REPORT.uuid);
  });
});
