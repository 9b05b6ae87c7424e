"""Calls a Jumpstarter gRPC server with Python grpcio and prints what it saw as one JSON object.

The checks mirror what upstream Jumpstarter's Python client and exporter do on the wire:
unary GetReport and DriverCall, server-streaming StreamingDriverCall, an error carrying
google.rpc.Status details in `grpc-status-details-bin`, and a bulk bidi RouterService.Stream.
It asserts nothing itself: tests/interop/grpcio_test.ts compares the facts with what it expects.
Stubs are generated at run time from the repository's .proto files into a temporary directory.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

try:
    import grpc
    import grpc_tools  # noqa: F401 - only its protoc is used, in a subprocess
except ImportError as missing:  # pragma: no cover - depends on the machine
    sys.exit(f"error: grpcio and grpcio-tools are needed ({missing})")

REPO = Path(__file__).resolve().parents[2]
OPTIONAL_LABEL = re.compile(r"^(\s*)optional\s+", re.MULTILINE)
CHUNK_BYTES = 32 * 1024
CALL_TIMEOUT_S = 30.0
BULK_TIMEOUT_S = 300.0
STREAM_COUNT = 1000
# A Struct-shaped value with every JSON kind, sent to DriverCall "echo".
ECHO_VALUE: dict[str, Any] = {
    "volts": 3.3,
    "enabled": True,
    "name": "psu-1",
    "channels": [1.0, 2.0, "aux"],
    "limits": {"max_amps": 2.5, "note": None},
}


class CheckError(Exception):
    """An expected failure, reported on stderr as one line."""


def generate_stubs(proto_dir: Path, google_proto_dir: Path, out_dir: Path) -> None:
    """Runs grpc_tools.protoc on our protos and google/rpc's status and error details.

    Debian's grpc_tools (1.14, protoc 3.5) predates proto3 `optional`; when it refuses the
    label, the sources are compiled again without it. The wire format is the same either way:
    only field presence in the Python classes differs.
    """
    sources = out_dir / "src"
    own = sorted(proto_dir.glob("jumpstarter/v1/*.proto"))
    if not own:
        raise CheckError(f"no jumpstarter/v1/*.proto under {proto_dir}")
    google = [google_proto_dir / "google/rpc" / n for n in ("status.proto", "error_details.proto")]
    for path in google:
        if not path.is_file():
            raise CheckError(f"{path.name} not found under {google_proto_dir}/google/rpc")
    staged = [stage(p, proto_dir, sources) for p in own]
    staged += [stage(p, google_proto_dir, sources) for p in google]
    result = protoc(sources, out_dir, staged)
    if result.returncode != 0 and "Explicit 'optional' labels are disallowed" in result.stderr:
        for name in staged:
            path = sources / name
            path.write_text(OPTIONAL_LABEL.sub(r"\1", path.read_text()))
        result = protoc(sources, out_dir, staged)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise CheckError(f"grpc_tools.protoc failed: {first}")


def stage(path: Path, root: Path, sources: Path) -> str:
    """Copies one .proto under `sources`, keeping its import path; returns that path."""
    name = path.relative_to(root).as_posix()
    (sources / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, sources / name)
    return name


def protoc(sources: Path, out_dir: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    # `-m grpc_tools.protoc` adds grpc_tools' own google/protobuf includes.
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{sources}"]
    command += [f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *names]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def load(out_dir: Path, name: str) -> ModuleType:
    """Imports a generated module, e.g. `jumpstarter.v1.router_pb2`."""
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    return importlib.import_module(name)


def default_google_proto_dir() -> Path:
    return REPO / "node_modules" / "google-proto-files"


def open_channel(target: str, ca: Path | None, connect_timeout: float) -> grpc.Channel:
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    if ca is None:
        channel = grpc.insecure_channel(target, options=options)
    else:
        try:
            root = ca.read_bytes()
        except OSError as err:
            raise CheckError(f"cannot read CA certificate {ca}: {err.strerror}") from None
        credentials = grpc.ssl_channel_credentials(root_certificates=root)
        channel = grpc.secure_channel(target, credentials, options=options)
    try:
        grpc.channel_ready_future(channel).result(timeout=connect_timeout)
    except grpc.FutureTimeoutError:
        channel.close()
        raise CheckError(f"cannot connect to {target} within {connect_timeout:g}s") from None
    return channel


def check_report(pb: ModuleType, grpc_mod: ModuleType, channel: grpc.Channel) -> dict[str, Any]:
    from google.protobuf import empty_pb2

    stub = grpc_mod.ExporterServiceStub(channel)
    report = stub.GetReport(empty_pb2.Empty(), timeout=CALL_TIMEOUT_S)
    return {
        "uuid": report.uuid,
        "labels": dict(report.labels),
        "motd": report.motd,
        "report_count": len(report.reports),
        "first_report_uuid": report.reports[0].uuid if report.reports else None,
        "first_report_labels": dict(report.reports[0].labels) if report.reports else None,
    }


def check_echo(pb: ModuleType, grpc_mod: ModuleType, channel: grpc.Channel) -> dict[str, Any]:
    from google.protobuf import json_format, struct_pb2

    stub = grpc_mod.ExporterServiceStub(channel)
    arg = json_format.ParseDict(ECHO_VALUE, struct_pb2.Value())
    request = pb.DriverCallRequest(uuid="interop-driver", method="echo", args=[arg])
    response = stub.DriverCall(request, timeout=CALL_TIMEOUT_S)
    return {
        "sent": ECHO_VALUE,
        "received": json_format.MessageToDict(response.result),
        "uuid": response.uuid,
    }


def check_streaming(pb: ModuleType, grpc_mod: ModuleType, channel: grpc.Channel) -> dict[str, Any]:
    from google.protobuf import struct_pb2

    stub = grpc_mod.ExporterServiceStub(channel)
    request = pb.StreamingDriverCallRequest(
        uuid="interop-driver", method="count", args=[struct_pb2.Value(number_value=STREAM_COUNT)]
    )
    numbers = [r.result.number_value for r in stub.StreamingDriverCall(request, timeout=60)]
    return {
        "requested": STREAM_COUNT,
        "count": len(numbers),
        "first": numbers[0] if numbers else None,
        "last": numbers[-1] if numbers else None,
        "in_order": numbers == [float(i) for i in range(len(numbers))],
    }


def check_error(
    pb: ModuleType, grpc_mod: ModuleType, channel: grpc.Channel, out_dir: Path
) -> dict[str, Any]:
    status_pb2 = load(out_dir, "google.rpc.status_pb2")
    error_details_pb2 = load(out_dir, "google.rpc.error_details_pb2")
    stub = grpc_mod.ExporterServiceStub(channel)
    try:
        stub.DriverCall(pb.DriverCallRequest(uuid="x", method="fail"), timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as err:
        call: Any = err  # the raised error is also the grpc.Call with code and metadata
        code = call.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        fact: dict[str, Any] = {"code": code.name, "details": call.details()}
        raw = dict(call.trailing_metadata() or ()).get("grpc-status-details-bin")
        fact["has_status_details"] = raw is not None
        if raw is not None:
            status = status_pb2.Status.FromString(raw)
            fact["status_code"] = status.code
            fact["status_message"] = status.message
            fact["detail_count"] = len(status.details)
            if status.details:
                first = status.details[0]
                fact["detail_type_url"] = first.type_url
                info = error_details_pb2.ErrorInfo()
                fact["detail_is_error_info"] = first.Unpack(info)
                fact["reason"] = info.reason
                fact["domain"] = info.domain
                fact["metadata"] = dict(info.metadata)
        return fact
    return {"code": "OK"}


def payload(total: int) -> bytes:
    """Deterministic pseudo-random bytes: compressible-looking data would flatter nobody."""
    return random.Random(0x4A4D50).randbytes(total)


def check_bidi(
    pb: ModuleType, grpc_mod: ModuleType, channel: grpc.Channel, total: int
) -> dict[str, Any]:
    stub = grpc_mod.RouterServiceStub(channel)
    data = payload(total)
    sent_hash = hashlib.sha256(data).hexdigest()
    sent = {"bytes": 0, "frames": 0}

    def requests() -> Iterator[Any]:
        # grpcio drains this generator on its own thread while the main thread reads below.
        for offset in range(0, total, CHUNK_BYTES):
            chunk = data[offset : offset + CHUNK_BYTES]
            sent["bytes"] += len(chunk)
            sent["frames"] += 1
            yield pb.StreamRequest(payload=chunk, frame_type=pb.FRAME_TYPE_DATA)
        yield pb.StreamRequest(frame_type=pb.FRAME_TYPE_GOAWAY)

    received_hash = hashlib.sha256()
    received = 0
    frames = 0
    goaway = False
    data_after_goaway = False
    other_frames: list[int] = []
    started = time.perf_counter()
    call = stub.Stream(requests(), timeout=BULK_TIMEOUT_S)
    for response in call:
        if response.frame_type == pb.FRAME_TYPE_DATA:
            if goaway:
                data_after_goaway = True
            received += len(response.payload)
            received_hash.update(response.payload)
            frames += 1
        elif response.frame_type == pb.FRAME_TYPE_GOAWAY:
            goaway = True
        else:
            other_frames.append(response.frame_type)
    seconds = time.perf_counter() - started
    return {
        "bytes_requested": total,
        "bytes_sent": sent["bytes"],
        "frames_sent": sent["frames"],
        "bytes_received": received,
        "frames_received": frames,
        "sha256_sent": sent_hash,
        "sha256_received": received_hash.hexdigest(),
        "goaway_received": goaway,
        "data_after_goaway": data_after_goaway,
        "other_frame_types": other_frames,
        "status": call.code().name,
        "seconds": round(seconds, 3),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    ca: Path | None = args.ca
    with tempfile.TemporaryDirectory(prefix="jmp-grpcio-") as tmp:
        out_dir = Path(tmp)
        generate_stubs(args.proto_dir, args.google_proto_dir, out_dir)
        pb = load(out_dir, "jumpstarter.v1.jumpstarter_pb2")
        router = load(out_dir, "jumpstarter.v1.router_pb2")
        exporter_grpc = load(out_dir, "jumpstarter.v1.jumpstarter_pb2_grpc")
        router_grpc = load(out_dir, "jumpstarter.v1.router_pb2_grpc")
        channel = open_channel(args.target, ca, args.connect_timeout)
        try:
            return {
                "grpcio_version": grpc.__version__,
                "target": args.target,
                "tls": ca is not None,
                "report": check_report(pb, exporter_grpc, channel),
                "echo": check_echo(pb, exporter_grpc, channel),
                "streaming": check_streaming(pb, exporter_grpc, channel),
                "error": check_error(pb, exporter_grpc, channel, out_dir),
                "bidi": check_bidi(router, router_grpc, channel, args.bulk_mib * 1024 * 1024),
            }
        finally:
            channel.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Exercise a Jumpstarter gRPC server with Python grpcio; print JSON facts."
    )
    parser.add_argument(
        "--proto-dir", type=Path, default=REPO / "proto", help="dir holding jumpstarter/v1/*.proto"
    )
    parser.add_argument(
        "--google-proto-dir",
        type=Path,
        default=default_google_proto_dir(),
        help="dir holding google/rpc/status.proto (the google-proto-files npm package)",
    )
    parser.add_argument(
        "--target", required=True, help="gRPC target: 127.0.0.1:PORT, localhost:PORT or unix:/path"
    )
    parser.add_argument("--ca", type=Path, help="PEM root CA: use TLS (else plaintext)")
    parser.add_argument(
        "--bulk-mib", type=int, default=64, help="MiB echoed over RouterService.Stream (default 64)"
    )
    parser.add_argument(
        "--connect-timeout", type=float, default=10.0, help="seconds to wait for the connection"
    )
    args = parser.parse_args(argv)
    if args.bulk_mib < 0:
        parser.error("--bulk-mib must be 0 or more")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        facts = run(args)
    except CheckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except grpc.RpcError as err:
        call: Any = err
        print(
            f"error: call to {args.target} failed: {call.code().name}: {call.details()}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
