// gRPC over node:http2: serving routes on TCP, TLS and Unix sockets, client channels, and the
// lean byte-stream path of RouterService.Stream shared by router, exporter and client.

export {
  type Address,
  formatAddress,
  parseAddress,
  type TcpAddress,
  type UnixAddress,
} from "./address.ts";
export {
  AddressError,
  AddressInUseError,
  CertificateError,
  SocketPathError,
  TransportError,
  UnreachableError,
} from "./errors.ts";
export { type GrpcServer, serve, type ServeOptions, type ServerTlsOptions } from "./server.ts";
export {
  type Channel,
  type ChannelOptions,
  type ClientTlsOptions,
  createChannel,
  describeDialError,
} from "./channel.ts";
export { ByteStream, DEFAULT_MAX_MESSAGE_BYTES, TransferCutError } from "./byte_stream.ts";
export {
  BYTE_STREAM_PATH,
  type ByteStreamCall,
  type ByteStreamHandler,
} from "./byte_stream_server.ts";
export {
  type ClientByteStream,
  openByteStream,
  type OpenByteStreamOptions,
} from "./byte_stream_client.ts";
export { leanUnary, type LeanUnaryMethod, type UnaryCall } from "./unary_server.ts";
export { callUnary, type UnaryCallOptions } from "./unary_client.ts";
export { type Frame, FrameDecodeError, FrameTooLargeError, FrameType } from "./frame_codec.ts";
export { readPem } from "./tls_material.ts";
export { pipeDuplex, type PipeResult } from "./pipe_duplex.ts";
export { byteStreamDuplex } from "./byte_stream_duplex.ts";
export { answerTrailersOnly, toConnectError } from "./server_call.ts";
export {
  compressionDisabled,
  type ContentEncoding,
  decodeContent,
  encodingOfPath,
  isContentEncoding,
  stripEncodingSuffix,
  UnsupportedEncodingError,
} from "./content_encoding.ts";
export { endpointChannel, type EndpointTls, isPlaintextEndpoint } from "./endpoint.ts";
