// Serves chosen unary methods straight on node:http2. DriverCall is what `j`, scripts and tests
// call most, and connect-es runs each unary call through its generic streaming machinery, which
// costs more than the call itself. Requests this path does not take (compressed messages, the
// Connect and gRPC-web protocols) still go to connect-es, which serves the same method.

import type * as http2 from "node:http2";
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { envelope, EnvelopeReader, joinViews } from "./frame_codec.ts";
import { toHeaders } from "./metadata.ts";
import {
  answerTrailersOnly,
  GRPC_CONTENT_TYPE,
  GRPC_RESPONSE_HEADERS,
  startServerCall,
  statusHeaders,
  toConnectError,
} from "./server_call.ts";

/** What a lean unary handler gets besides the request. */
export interface UnaryCall {
  /** The caller's request metadata (lower-case keys). */
  readonly metadata: Headers;
  /** Aborted when the caller cancels, the deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
}

/** A unary method served on the lean path. */
export interface LeanUnaryMethod {
  /** The gRPC path, `/package.Service/Method`. */
  readonly path: string;
  /** Decodes the request, runs the method and encodes its response. */
  run(request: Uint8Array, call: UnaryCall): Promise<Uint8Array>;
}

/**
 * Wraps the implementation of a unary method for the lean path.
 *
 * @example
 * ```ts
 * serve({ address, routes, unary: [leanUnary(ExporterService.method.driverCall, impl)] });
 * ```
 */
export function leanUnary<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  handle: (
    request: MessageShape<I>,
    call: UnaryCall,
  ) => Promise<MessageInitShape<O>> | MessageInitShape<O>,
): LeanUnaryMethod {
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    async run(bytes, call) {
      let request: MessageShape<I>;
      try {
        request = fromBinary(method.input, bytes);
      } catch (err) {
        throw new ConnectError(
          `cannot decode the ${method.input.typeName} request: ${(err as Error).message}`,
          Code.InvalidArgument,
        );
      }
      return toBinary(method.output, create(method.output, await handle(request, call)));
    },
  };
}

/** Whether the lean path can take this request; connect-es serves the others. */
export function takesLeanUnary(req: http2.Http2ServerRequest): boolean {
  const encoding = req.headers["grpc-encoding"];
  return GRPC_CONTENT_TYPE.test(String(req.headers["content-type"] ?? "")) &&
    (encoding === undefined || encoding === "identity");
}

/** Limits applied to lean unary calls. */
export interface UnaryServeOptions {
  maxMessageBytes: number;
  shutdownSignal: AbortSignal;
}

/** Serves one call of `method`; answers with a gRPC status in every case. */
export function serveLeanUnary(
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
  method: LeanUnaryMethod,
  options: UnaryServeOptions,
): void {
  const lifetime = startServerCall(req, res, options.shutdownSignal);
  const fail = (error: ConnectError) => {
    lifetime.dispose();
    answerTrailersOnly(res, error);
    // Whatever the caller still sends is discarded, so its side can finish.
    res.stream.resume();
  };
  // A caller that never finishes its request still gets its status at the deadline.
  lifetime.aborted.catch(fail);
  const h2 = res.stream;
  const reader = new EnvelopeReader(options.maxMessageBytes);
  let message: Uint8Array[] | undefined;
  const onData = (chunk: Uint8Array) => {
    reader.push(chunk);
    try {
      // A request too large is refused as soon as its size is known.
      message ??= reader.next();
    } catch (err) {
      h2.off("data", onData);
      h2.off("end", onEnd);
      fail(toConnectError(err));
    }
  };
  const onEnd = () => {
    h2.off("data", onData);
    if (lifetime.signal.aborted) return; // already answered
    let body: Uint8Array;
    try {
      body = requestBody(message, reader, method.path);
    } catch (err) {
      fail(toConnectError(err));
      return;
    }
    let metadata: Headers | undefined;
    const call = {
      // Built on first use: most handlers never look.
      get metadata() {
        return (metadata ??= toHeaders(req.headers));
      },
      signal: lifetime.signal,
    };
    const running = method.run(body, call);
    running.catch(() => {});
    Promise.race([running, lifetime.aborted]).then((response) => {
      if (response.length > options.maxMessageBytes) {
        fail(
          new ConnectError(
            `the response of ${response.length} bytes exceeds the limit of ${options.maxMessageBytes}`,
            Code.ResourceExhausted,
          ),
        );
        return;
      }
      lifetime.dispose();
      if (res.destroyed || res.writableEnded) return;
      res.writeHead(200, GRPC_RESPONSE_HEADERS);
      res.addTrailers(statusHeaders(undefined));
      res.end(envelope(response));
    }, (err) => fail(ConnectError.from(err, Code.Unknown)));
  };
  h2.on("data", onData);
  h2.once("end", onEnd);
}

// The one message of a unary request.
function requestBody(
  views: Uint8Array[] | undefined,
  reader: EnvelopeReader,
  path: string,
): Uint8Array {
  if (!views && reader.buffered === 0) {
    throw new ConnectError(`protocol error: missing input message for ${path}`, Code.Unimplemented);
  }
  if (!views) {
    throw new ConnectError(
      `protocol error: the request ended inside a message (${reader.buffered} bytes)`,
      Code.InvalidArgument,
    );
  }
  if (reader.buffered > 0) {
    throw new ConnectError(
      `protocol error: received extra input message for ${path}`,
      Code.Unimplemented,
    );
  }
  return joinViews(views);
}
