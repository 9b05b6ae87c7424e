// Makes unary calls straight on a channel's HTTP/2 connection: the client end of the lean unary
// path (see unary_server.ts). Works against any gRPC server; errors are the ConnectErrors that
// connect-es clients get, with the same codes, messages and details.

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
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import type { Channel } from "./channel.ts";
import {
  endedWithoutStatus,
  httpStatusCode,
  limitCall,
  openCallStream,
  RST,
} from "./client_call.ts";
import {
  envelope,
  EnvelopeReader,
  FrameDecodeError,
  FrameTooLargeError,
  joinViews,
} from "./frame_codec.ts";
import { toHeaders } from "./metadata.ts";

/** Options of one unary call. */
export interface UnaryCallOptions {
  /** Request metadata. */
  metadata?: Record<string, string>;
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Deadline of the call; defaults to the channel's. */
  timeoutMs?: number;
}

/**
 * Calls a unary method.
 *
 * @example
 * ```ts
 * const report = await callUnary(channel, ExporterService.method.getReport, {});
 * ```
 */
export async function callUnary<I extends DescMessage, O extends DescMessage>(
  channel: Channel,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  options: UnaryCallOptions = {},
): Promise<MessageShape<O>> {
  const body = toBinary(method.input, create(method.input, request));
  if (body.length > channel.maxMessageBytes) {
    throw new ConnectError(
      `the request of ${body.length} bytes exceeds the limit of ${channel.maxMessageBytes}`,
      Code.ResourceExhausted,
    );
  }
  const signal = options.signal;
  if (signal?.aborted) throw new ConnectError("call cancelled", Code.Canceled);
  const timeoutMs = options.timeoutMs ?? channel.timeoutMs;
  const path = `/${method.parent.typeName}/${method.name}`;
  const h2 = await openCallStream(channel, path, options.metadata, timeoutMs);

  const views = await new Promise<Uint8Array[]>((resolve, reject) => {
    const reader = new EnvelopeReader(channel.maxMessageBytes);
    let message: Uint8Array[] | undefined;
    let headers: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let failure: ConnectError | undefined;
    const limits = limitCall(h2, signal, timeoutMs);
    h2.once("response", (raw) => {
      headers = raw;
      const status = raw[":status"];
      if (status !== 200) {
        failure ??= new ConnectError(`HTTP status ${status}`, httpStatusCode(status));
      }
    });
    h2.on("data", (chunk: Uint8Array) => {
      reader.push(chunk);
      try {
        message ??= reader.next();
      } catch (err) {
        failure ??= responseError(err);
        h2.close(RST.CANCEL);
      }
    });
    h2.once("trailers", (raw) => (trailers = raw));
    h2.on("error", () => {}); // "close" follows and says what happened
    h2.once("close", () => {
      limits.dispose();
      const status = trailers ?? (headers?.["grpc-status"] !== undefined ? headers : undefined);
      if (failure) return reject(failure);
      if (!status) {
        return reject(
          endedWithoutStatus(h2, channel, signal, limits.expired ? timeoutMs : undefined),
        );
      }
      // Headers objects are built only for a failure: most calls succeed.
      const error = status["grpc-status"] === "0" ? undefined : findTrailerError(toHeaders(status));
      if (error) return reject(error);
      if (!message || reader.buffered > 0) {
        return reject(
          new ConnectError(
            `protocol error: ${path} answered with ${message ? "more than one" : "no"} message`,
            Code.Internal,
          ),
        );
      }
      resolve(message);
    });
    h2.end(envelope(body));
  });
  try {
    return fromBinary(method.output, joinViews(views));
  } catch (err) {
    throw new ConnectError(
      `cannot decode the ${method.output.typeName} response: ${(err as Error).message}`,
      Code.Internal,
    );
  }
}

function responseError(err: unknown): ConnectError {
  if (err instanceof FrameTooLargeError) {
    return new ConnectError(err.message, Code.ResourceExhausted);
  }
  if (err instanceof FrameDecodeError) return new ConnectError(err.message, Code.Internal);
  return ConnectError.from(err, Code.Internal);
}
