// Typed @grpc/grpc-js calls made from the generated service descriptors, without proto-loader:
// each method is its gRPC path plus serializers built on protobuf-es toBinary/fromBinary.

import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";

/** A generated method descriptor of the given kind, e.g. `ExporterService.method.getReport`. */
type Method<Kind extends DescMethod["methodKind"], I extends DescMessage, O extends DescMessage> =
  & DescMethod
  & { methodKind: Kind; input: I; output: O };

function pathOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function serializer<I extends DescMessage>(schema: I): (value: MessageShape<I>) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<O extends DescMessage>(schema: O): (bytes: Buffer) => MessageShape<O> {
  return (bytes) => fromBinary(schema, bytes);
}

/**
 * A grpc-js client speaking protobuf-es messages.
 *
 * @example
 * ```ts
 * const client = new GrpcJsClient("127.0.0.1:50051", grpc.credentials.createInsecure());
 * try {
 *   const report = await client.unary(ExporterService.method.getReport, {});
 * } finally {
 *   client.close();
 * }
 * ```
 */
export class GrpcJsClient {
  readonly #client: grpc.Client;

  constructor(target: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) {
    this.#client = new grpc.Client(target, credentials, options);
  }

  /** Calls a unary method; rejects with the grpc-js ServiceError on a non-OK status. */
  unary<I extends DescMessage, O extends DescMessage>(
    method: Method<"unary", I, O>,
    request: MessageInitShape<I>,
    options: grpc.CallOptions = {},
  ): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        pathOf(method),
        serializer(method.input),
        deserializer(method.output),
        create(method.input, request),
        new grpc.Metadata(),
        options,
        (err: grpc.ServiceError | null, value?: MessageShape<O>) => {
          if (err) reject(err);
          else if (value === undefined) reject(new Error(`${pathOf(method)}: no response`));
          else resolve(value);
        },
      );
    });
  }

  /** Starts a server-streaming call. */
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: Method<"server_streaming", I, O>,
    request: MessageInitShape<I>,
    options: grpc.CallOptions = {},
  ): grpc.ClientReadableStream<MessageShape<O>> {
    return this.#client.makeServerStreamRequest(
      pathOf(method),
      serializer(method.input),
      deserializer(method.output),
      create(method.input, request),
      new grpc.Metadata(),
      options,
    );
  }

  /** Starts a bidi-streaming call. */
  bidi<I extends DescMessage, O extends DescMessage>(
    method: Method<"bidi_streaming", I, O>,
    options: grpc.CallOptions = {},
  ): grpc.ClientDuplexStream<MessageShape<I>, MessageShape<O>> {
    return this.#client.makeBidiStreamRequest(
      pathOf(method),
      serializer(method.input),
      deserializer(method.output),
      new grpc.Metadata(),
      options,
    );
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }
}

/** True for the errors grpc-js reports for a non-OK status. */
export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && "code" in err && "metadata" in err;
}
