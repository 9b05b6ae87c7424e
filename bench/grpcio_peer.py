"""The Python grpcio side of the transport benchmark: an echo server, or a client that measures.

serve   RouterService.Stream as an echo (DATA back as DATA, GOAWAY answered with GOAWAY, then
        the call ends) and ExporterService.GetReport with a small fixed report. Prints `ready`
        on stdout once listening; stops on SIGTERM or SIGINT, or when stdin is a pipe that closes.
client  One bidi echo of --mib MiB in --chunk-kib DATA frames, sent from grpcio's request
        thread while this thread reads, timed from the first send to the last byte back; then
        --unary sequential GetReport calls after a few warmups. Prints one JSON line.

Stubs are generated at run time from the repository's .proto files into a temporary directory.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import random
import signal
import stat
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Iterator

# grpc core prints its own multi-line report of a failed bind; the one-line error below says it.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

try:
    import grpc
    import grpc_tools  # noqa: F401 - only its protoc is used, in a subprocess
except ImportError as missing:  # pragma: no cover - depends on the machine
    sys.exit(f"error: grpcio and grpcio-tools are needed ({missing})")

REPO = Path(__file__).resolve().parents[1]
# Stub generation and channels are shared with the interop tests.
sys.path.insert(0, str(REPO / "tests" / "interop"))
import grpcio_client as base  # noqa: E402
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
WARMUP_MIB = 16  # the same as bench/peer_args.ts
MESSAGE_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
WARMUP_CALLS = 20


# An expected failure, reported on stderr as one line; the shared helpers raise it too.
PeerError = base.CheckError


class Stubs:
    """The generated modules this peer uses."""

    def __init__(self, out_dir: Path) -> None:
        sys.path.insert(0, str(out_dir))
        self.pb = importlib.import_module("jumpstarter.v1.jumpstarter_pb2")
        self.router = importlib.import_module("jumpstarter.v1.router_pb2")
        self.pb_grpc = importlib.import_module("jumpstarter.v1.jumpstarter_pb2_grpc")
        self.router_grpc = importlib.import_module("jumpstarter.v1.router_pb2_grpc")


def generate_stubs(proto_dir: Path, out_dir: Path) -> Stubs:
    """Generates the stubs the way the interop tests do (tests/interop/grpcio_client.py)."""
    base.generate_stubs(proto_dir, base.default_google_proto_dir(), out_dir)
    return Stubs(out_dir)


# --- serve -----------------------------------------------------------------------------------


def add_services(server: grpc.Server, stubs: Stubs) -> None:
    router = stubs.router

    class Router(stubs.router_grpc.RouterServiceServicer):  # type: ignore[name-defined,misc]
        def Stream(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            for frame in requests:
                if frame.frame_type == router.FRAME_TYPE_DATA:
                    yield router.StreamResponse(payload=frame.payload)
                elif frame.frame_type == router.FRAME_TYPE_GOAWAY:
                    yield router.StreamResponse(frame_type=router.FRAME_TYPE_GOAWAY)
                    return

    pb = stubs.pb
    report = pb.GetReportResponse(
        uuid="6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5",
        labels={"jumpstarter.dev/name": "grpcio-bench-peer"},
        motd="grpcio bench peer",
    )

    class Exporter(stubs.pb_grpc.ExporterServiceServicer):  # type: ignore[name-defined,misc]
        def GetReport(self, request: Any, context: grpc.ServicerContext) -> Any:
            return report

    stubs.router_grpc.add_RouterServiceServicer_to_server(Router(), server)
    stubs.pb_grpc.add_ExporterServiceServicer_to_server(Exporter(), server)


def watch_stdin(stop: threading.Event) -> None:
    """Stops the server when stdin is a pipe or socket and its writer closes it."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return  # a terminal or /dev/null: only signals stop the server

    def drain() -> None:
        while os.read(sys.stdin.fileno(), 4096):
            pass
        stop.set()

    threading.Thread(target=drain, name="stdin-watch", daemon=True).start()


def bind_problem(listen: str) -> str:
    """A guess at why grpc could not bind, since it only says that it failed."""
    if listen.startswith("unix:"):
        parent = Path(listen[len("unix:") :]).parent
        if not parent.is_dir():
            return f"directory {parent} does not exist"
        if not os.access(parent, os.W_OK):
            return f"directory {parent} is not writable"
        return "bind failed (GRPC_VERBOSITY=debug shows why)"
    return "address in use or not local (GRPC_VERBOSITY=debug shows why)"


def serve(args: argparse.Namespace, stubs: Stubs) -> int:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=MESSAGE_OPTIONS)
    add_services(server, stubs)
    try:
        port = server.add_insecure_port(args.listen)
    except RuntimeError:
        raise PeerError(f"cannot listen on {args.listen}: {bind_problem(args.listen)}") from None
    if port == 0 and not args.listen.startswith("unix:"):
        raise PeerError(f"cannot listen on {args.listen}")
    server.start()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watch_stdin(stop)
    if not args.listen.startswith("unix:"):
        host = args.listen.rsplit(":", 1)[0]
        print(f"listening on {host}:{port}", file=sys.stderr, flush=True)
    print("ready", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(grace=1).wait()
    return 0


# --- client ----------------------------------------------------------------------------------


def bulk_echo(stubs: Stubs, channel: grpc.Channel, total: int, chunk: int) -> dict[str, Any]:
    """Echoes `total` pseudo-random bytes; seconds run from the first send to the last byte."""
    router = stubs.router
    # randbytes() cannot make more than 256 MiB in one call; build it a MiB at a time.
    rng = random.Random(0x4A4D50)
    data = b"".join(rng.randbytes(min(1 << 20, total - at)) for at in range(0, total, 1 << 20))
    started: list[float] = []

    def requests() -> Iterator[Any]:
        # grpcio pulls this generator on its own thread, so sending overlaps with reading.
        for offset in range(0, total, chunk):
            if not started:
                started.append(time.perf_counter())
            yield router.StreamRequest(payload=data[offset : offset + chunk])
        yield router.StreamRequest(frame_type=router.FRAME_TYPE_GOAWAY)

    # Each piece is compared with what was sent at its offset (memcmp), as the other peers do.
    intact = True
    received = 0
    finished = time.perf_counter()
    call = stubs.router_grpc.RouterServiceStub(channel).Stream(requests(), timeout=600)
    for response in call:
        if response.frame_type != router.FRAME_TYPE_DATA:
            continue
        payload = response.payload
        if payload != data[received : received + len(payload)]:
            intact = False
        received += len(payload)
        if received >= total:
            finished = time.perf_counter()
    seconds = max(finished - (started[0] if started else finished), 1e-9)
    return {
        "bytes": received,
        "seconds": round(seconds, 4),
        "mb_per_s": round(received / seconds / 1e6, 1),
        "intact": intact and received == total,
    }


def percentile(sorted_ms: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_ms)))
    return round(sorted_ms[rank - 1], 3)


def unary_latency(stubs: Stubs, channel: grpc.Channel, calls: int) -> dict[str, Any]:
    from google.protobuf import empty_pb2

    get_report = stubs.pb_grpc.ExporterServiceStub(channel).GetReport
    empty = empty_pb2.Empty()
    for _ in range(WARMUP_CALLS if calls > 0 else 0):
        get_report(empty, timeout=30)
    samples = []
    for _ in range(calls):
        begin = time.perf_counter()
        get_report(empty, timeout=30)
        samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    return {"unary_p50_ms": percentile(samples, 50), "unary_p99_ms": percentile(samples, 99)}


def client(args: argparse.Namespace, stubs: Stubs) -> int:
    channel = base.open_channel(args.target, args.ca, args.connect_timeout)
    try:
        # Untimed warm-up on the same connection, as the other peers do: steady-state figures.
        bulk_echo(stubs, channel, WARMUP_MIB * 1024 * 1024, args.chunk_kib * 1024)
        result = bulk_echo(stubs, channel, args.mib * 1024 * 1024, args.chunk_kib * 1024)
        intact = result.pop("intact")
        result.update(unary_latency(stubs, channel, args.unary))
        result["intact"] = intact
    finally:
        channel.close()
    print(json.dumps(result), flush=True)
    return 0 if intact else 1


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Python grpcio peer for the transport benchmark (echo server or client)."
    )
    parser.add_argument(
        "--proto-dir", type=Path, default=REPO / "proto", help="dir holding jumpstarter/v1/*.proto"
    )
    modes = parser.add_subparsers(dest="mode", required=True, metavar="{serve,client}")
    serve_p = modes.add_parser("serve", help="echo server; prints `ready` once listening")
    serve_p.add_argument("--listen", required=True, help="unix:/path or HOST:PORT (PORT may be 0)")
    client_p = modes.add_parser("client", help="measure bidi throughput and unary latency")
    client_p.add_argument("--target", required=True, help="unix:/path or HOST:PORT")
    client_p.add_argument("--ca", type=Path, help="PEM root CA: use TLS (else plaintext)")
    client_p.add_argument("--mib", type=int, default=64, help="MiB to echo (default 64)")
    client_p.add_argument("--chunk-kib", type=int, default=32, help="KiB per frame (default 32)")
    client_p.add_argument(
        "--unary", type=int, default=1000, help="timed GetReport calls (default 1000)"
    )
    client_p.add_argument(
        "--connect-timeout", type=float, default=10.0, help="seconds to wait for the connection"
    )
    args = parser.parse_args(argv)
    if args.mode == "client":
        if args.mib < 1 or args.chunk_kib < 1 or args.unary < 0:
            parser.error("--mib and --chunk-kib must be 1 or more, --unary 0 or more")
        if args.chunk_kib * 1024 > MAX_MESSAGE_BYTES:
            parser.error(f"--chunk-kib must be at most {MAX_MESSAGE_BYTES // 1024}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="jmp-grpcio-peer-") as tmp:
            stubs = generate_stubs(args.proto_dir, Path(tmp))
            return serve(args, stubs) if args.mode == "serve" else client(args, stubs)
    except PeerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except grpc.RpcError as err:
        call: Any = err  # the raised error is also the grpc.Call with code and details
        print(f"error: call failed: {call.code().name}: {call.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
