// Python grpcio, the gRPC runtime of upstream Jumpstarter's client and exporter, against our
// server over plaintext TCP, TLS and a Unix socket: unary, server streaming, google.rpc.Status
// error details and a 64 MiB bidi RouterService.Stream echo. grpcio_client.py reports what it
// saw as JSON; the assertions are here.

import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import {
  type Address,
  type ByteStreamHandler,
  serve,
  type ServerTlsOptions,
} from "../../transport/mod.ts";
import { makeTestCerts } from "../fixtures/certs.ts";
import {
  echoByteStream,
  INTEROP_ERROR,
  INTEROP_REPORT,
  interopRoutes,
  interopUnary,
} from "./interop_service.ts";
import { ignoreUnlessInstalled } from "../fixtures/optional_tools.ts";
import {
  GOOGLE_PROTO_DIR,
  grpcioMissing,
  runPythonClient,
  type RunResult,
} from "./grpcio_runner.ts";

const MIB = 1024 * 1024;
const runClient = (args: string[]) => runPythonClient("grpcio_client.py", args);

/** What grpcio_client.py sends to DriverCall "echo" (kept in step with ECHO_VALUE there). */
const ECHO_VALUE = {
  volts: 3.3,
  enabled: true,
  name: "psu-1",
  channels: [1, 2, "aux"],
  limits: { max_amps: 2.5, note: null },
};

/** The JSON grpcio_client.py prints. */
interface ClientFacts {
  grpcio_version: string;
  tls: boolean;
  report: {
    uuid: string;
    labels: Record<string, string>;
    motd: string;
    report_count: number;
    first_report_uuid: string | null;
    first_report_labels: Record<string, string> | null;
  };
  echo: { sent: unknown; received: unknown; uuid: string };
  streaming: {
    requested: number;
    count: number;
    first: number | null;
    last: number | null;
    in_order: boolean;
  };
  error: {
    code: string;
    details: string;
    has_status_details: boolean;
    status_code?: number;
    status_message?: string;
    detail_type_url?: string;
    detail_is_error_info?: boolean;
    reason?: string;
    domain?: string;
    metadata?: Record<string, string>;
  };
  bidi: {
    bytes_sent: number;
    bytes_received: number;
    sha256_sent: string;
    sha256_received: string;
    goaway_received: boolean;
    data_after_goaway: boolean;
    other_frame_types: number[];
    status: string;
    seconds: number;
  };
}

/** How one transport is set up: where our server listens and how the client reaches it. */
interface Setup {
  address: string;
  tls?: ServerTlsOptions;
  byteStream?: ByteStreamHandler;
  clientArgs(bound: Address): string[];
  cleanup(): void;
}

interface Transport {
  name: string;
  bulkMib: number;
  setup(): Setup;
}

function tcpPort(address: Address): number {
  assert.equal(address.kind, "tcp");
  return address.port;
}

/** A short directory for a Unix socket: paths are limited to about 107 bytes, so not $TMPDIR. */
function socketDir(): string {
  return mkdtempSync("/tmp/jmp-py-");
}

const TRANSPORTS: Transport[] = [
  {
    name: "plaintext TCP",
    bulkMib: 64,
    setup: () => ({
      address: "127.0.0.1:0",
      byteStream: echoByteStream,
      clientArgs: (bound) => ["--target", `127.0.0.1:${tcpPort(bound)}`],
      cleanup() {},
    }),
  },
  {
    name: "TLS",
    bulkMib: 64,
    setup() {
      const certs = makeTestCerts();
      return {
        address: "127.0.0.1:0",
        tls: { cert: certs.serverCertPath, key: certs.serverKeyPath },
        byteStream: echoByteStream,
        // The name checked against the certificate, as upstream clients dial it.
        clientArgs: (
          bound,
        ) => ["--target", `localhost:${tcpPort(bound)}`, "--ca", certs.caCertPath],
        cleanup: () => certs.remove(),
      };
    },
  },
  {
    name: "a Unix socket",
    bulkMib: 64,
    setup() {
      const dir = socketDir();
      return {
        address: `unix:${join(dir, "s.sock")}`,
        byteStream: echoByteStream,
        clientArgs: () => ["--target", `unix:${join(dir, "s.sock")}`],
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    // RouterService.Stream through connect-es instead of the lean byte path.
    name: "a Unix socket, Stream through connect-es",
    bulkMib: 64,
    setup() {
      const dir = socketDir();
      return {
        address: `unix:${join(dir, "s.sock")}`,
        clientArgs: () => ["--target", `unix:${join(dir, "s.sock")}`],
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];

/** Why the tests cannot run here, or undefined when the system Python has grpcio. */

function assertFacts(facts: ClientFacts, transport: Transport): void {
  const { report, echo, streaming, error, bidi } = facts;
  assert.equal(report.uuid, INTEROP_REPORT.uuid);
  assert.deepEqual(report.labels, INTEROP_REPORT.labels);
  assert.equal(report.motd, INTEROP_REPORT.motd);
  assert.equal(report.report_count, 1);
  assert.equal(report.first_report_uuid, INTEROP_REPORT.driverUuid);
  assert.equal(report.first_report_labels?.["jumpstarter.dev/client"], INTEROP_REPORT.driverClient);

  assert.deepEqual(echo.sent, ECHO_VALUE);
  assert.deepEqual(echo.received, ECHO_VALUE);
  assert.equal(echo.uuid, "interop-driver");

  assert.deepEqual(streaming, {
    count: 1000,
    first: 0,
    last: 999,
    in_order: true,
    requested: 1000,
  });

  assert.equal(error.code, "FAILED_PRECONDITION");
  assert.equal(error.details, INTEROP_ERROR.message);
  assert.ok(error.has_status_details, "no grpc-status-details-bin trailer");
  assert.equal(error.status_code, Code.FailedPrecondition);
  assert.equal(error.status_message, INTEROP_ERROR.message);
  assert.equal(error.detail_type_url, "type.googleapis.com/google.rpc.ErrorInfo");
  assert.equal(error.detail_is_error_info, true);
  assert.equal(error.reason, INTEROP_ERROR.reason);
  assert.equal(error.domain, INTEROP_ERROR.domain);
  assert.deepEqual(error.metadata, { driver: "power" });

  const bytes = transport.bulkMib * MIB;
  assert.equal(bidi.status, "OK");
  assert.equal(bidi.bytes_sent, bytes);
  assert.equal(bidi.bytes_received, bytes);
  assert.match(bidi.sha256_sent, /^[0-9a-f]{64}$/);
  assert.equal(bidi.sha256_received, bidi.sha256_sent);
  assert.equal(bidi.goaway_received, true);
  assert.equal(bidi.data_after_goaway, false);
  assert.deepEqual(bidi.other_frame_types, []);
}

const missing = grpcioMissing();
const skipNote = missing ? ` (ignored: ${missing})` : "";

for (const transport of TRANSPORTS) {
  Deno.test({
    name: `Python grpcio calls our server over ${transport.name}${skipNote}`,
    ignore: ignoreUnlessInstalled(missing),
    async fn() {
      assert.ok(
        existsSync(join(GOOGLE_PROTO_DIR, "google/rpc/status.proto")),
        `${GOOGLE_PROTO_DIR} is missing: install the npm packages (deno install)`,
      );
      const setup = transport.setup();
      try {
        const server = await serve({
          address: setup.address,
          tls: setup.tls,
          routes: interopRoutes,
          byteStream: setup.byteStream,
          unary: setup.byteStream ? interopUnary : undefined,
        });
        let run: RunResult;
        try {
          run = await runClient([
            ...setup.clientArgs(server.address),
            "--bulk-mib",
            String(transport.bulkMib),
          ]);
        } finally {
          await server.close();
        }
        assert.equal(
          run.code,
          0,
          `grpcio client failed (code ${run.code}, signal ${run.signal}): ${run.stderr.trim()}`,
        );
        const facts = JSON.parse(run.stdout) as ClientFacts;
        assert.equal(facts.tls, setup.tls !== undefined);
        assertFacts(facts, transport);
      } finally {
        setup.cleanup();
      }
    },
  });
}

Deno.test({
  name: `grpcio client reports a failed connection in one line${skipNote}`,
  ignore: ignoreUnlessInstalled(missing),
  async fn() {
    const dir = socketDir();
    try {
      const target = `unix:${join(dir, "nobody.sock")}`;
      const run = await runClient(["--target", target, "--connect-timeout", "0.5"]);
      assert.notEqual(run.code, 0);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, /^error: cannot connect to unix:\S+nobody\.sock\b[^\n]*\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
