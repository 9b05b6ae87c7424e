"""Drives a Jumpstarter exporter with Python grpcio the way upstream's Python client does.

Only upstream's facts are used: ExporterService method names, report labels, driver method names
(power `on`/`off`/`read`, shell `get_methods`/`call_method`, storage `host`/`write`), arguments and
results encoded as google.protobuf.Value through json_format, and resources sent over
RouterService.Stream, as upstream does. Prints one JSON object of
what it saw; tests/interop/grpcio_exporter_test.ts holds the assertions. Any failure is one line
on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grpcio_client as base  # noqa: E402 - stub generation and channels are shared

import grpc  # noqa: E402
from google.protobuf import empty_pb2, json_format, struct_pb2  # noqa: E402

NAME_LABEL = "jumpstarter.dev/name"
MISSING_METHOD = "explode"


def encode(data: Any) -> struct_pb2.Value:
    """An argument as upstream's client encodes it."""
    return json_format.ParseDict(data, struct_pb2.Value())


def call(stub: Any, pb: Any, uuid: str, method: str, *args: Any) -> dict[str, Any]:
    """DriverCall; the decoded result, and which Value kind carried it on the wire."""
    request = pb.DriverCallRequest(uuid=uuid, method=method, args=[encode(a) for a in args])
    response = stub.DriverCall(request, timeout=base.CALL_TIMEOUT_S)
    return {
        "result": json_format.MessageToDict(response.result),
        "kind": response.result.WhichOneof("kind") if response.HasField("result") else None,
    }


def stream(stub: Any, pb: Any, uuid: str, method: str, *args: Any) -> list[Any]:
    """StreamingDriverCall; each decoded result in order."""
    request = pb.StreamingDriverCallRequest(uuid=uuid, method=method, args=[encode(a) for a in args])
    responses = stub.StreamingDriverCall(request, timeout=base.CALL_TIMEOUT_S)
    return [json_format.MessageToDict(r.result) for r in responses]


def report_facts(report: Any) -> dict[str, Any]:
    return {
        "uuid": report.uuid,
        "parent_uuid": report.parent_uuid,
        "labels": dict(report.labels),
        "description": report.description,
        "methods_description": dict(report.methods_description),
    }


def missing_method(stub: Any, pb: Any, uuid: str) -> dict[str, Any]:
    try:
        call(stub, pb, uuid, MISSING_METHOD)
    except grpc.RpcError as err:
        failed: Any = err  # the raised error is also the grpc.Call with code and details
        code = failed.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        return {"method": MISSING_METHOD, "code": code.name, "details": failed.details()}
    return {"method": MISSING_METHOD, "code": "OK", "details": ""}


def upload(
    stub: Any, router: Any, pb: Any, router_pb: Any, uuid: str, path: Path, encoding: str
) -> dict[str, Any]:
    """A file sent to storage `write` as upstream's client sends a resource: a RouterService.Stream
    asking for `encoding`, the handle from its initial metadata passed to the method while the
    bytes flow (plain ones when the exporter did not accept the encoding)."""

    def requests(data: bytes) -> Any:
        for at in range(0, len(data), 64 * 1024):
            chunk = data[at : at + 64 * 1024]
            yield router_pb.StreamRequest(payload=chunk, frame_type=router_pb.FRAME_TYPE_DATA)
        yield router_pb.StreamRequest(frame_type=router_pb.FRAME_TYPE_GOAWAY)

    request = json.dumps({"kind": "resource", "uuid": uuid, "x_jmp_content_encoding": encoding})
    sending: list[bytes] = []
    ready = threading.Event()

    def body() -> Any:
        ready.wait(base.CALL_TIMEOUT_S)
        yield from requests(sending[0])

    responses = router.Stream(body(), metadata=[("request", request)], timeout=base.CALL_TIMEOUT_S)
    headers = dict(responses.initial_metadata())
    accepted = headers.get("x_jmp_accept_encoding")
    data = path.read_bytes()
    sending.append(data if accepted == encoding else gzip.decompress(data))
    ready.set()
    handle = json.loads(headers["resource"])
    result = call(stub, pb, uuid, "write", handle)
    frames = [r.frame_type for r in responses]
    return {"accepted": accepted, "handle": handle, "write": result["result"], "frames": frames}


def run_upload(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jmp-grpcio-") as tmp:
        out_dir = Path(tmp)
        base.generate_stubs(args.proto_dir, args.google_proto_dir, out_dir)
        pb = base.load(out_dir, "jumpstarter.v1.jumpstarter_pb2")
        pb_grpc = base.load(out_dir, "jumpstarter.v1.jumpstarter_pb2_grpc")
        router_grpc = base.load(out_dir, "jumpstarter.v1.router_pb2_grpc")
        router_pb = base.load(out_dir, "jumpstarter.v1.router_pb2")
        channel = base.open_channel(args.target, None, args.connect_timeout)
        try:
            stub = pb_grpc.ExporterServiceStub(channel)
            router = router_grpc.RouterServiceStub(channel)
            report = stub.GetReport(empty_pb2.Empty(), timeout=base.CALL_TIMEOUT_S)
            by_name = {r.labels.get(NAME_LABEL): r for r in report.reports}
            storage = by_name["storage"].uuid
            call(stub, pb, storage, "host")
            return upload(stub, router, pb, router_pb, storage, args.upload_gzip, "gzip")
        finally:
            channel.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.upload_gzip:
        return run_upload(args)
    with tempfile.TemporaryDirectory(prefix="jmp-grpcio-") as tmp:
        out_dir = Path(tmp)
        base.generate_stubs(args.proto_dir, args.google_proto_dir, out_dir)
        pb = base.load(out_dir, "jumpstarter.v1.jumpstarter_pb2")
        pb_grpc = base.load(out_dir, "jumpstarter.v1.jumpstarter_pb2_grpc")
        channel = base.open_channel(args.target, None, args.connect_timeout)
        try:
            stub = pb_grpc.ExporterServiceStub(channel)
            report = stub.GetReport(empty_pb2.Empty(), timeout=base.CALL_TIMEOUT_S)
            by_name = {r.labels.get(NAME_LABEL): r for r in report.reports}
            if "power" not in by_name or "shell" not in by_name:
                names = sorted(str(n) for n in by_name)
                raise base.CheckError(f"no power or shell driver in the report (names: {names})")
            power = by_name["power"].uuid
            shell = by_name["shell"].uuid
            on = call(stub, pb, power, "on")
            off = call(stub, pb, power, "off")
            readings = stream(stub, pb, power, "read")
            methods = call(stub, pb, shell, "get_methods")
            chunks = stream(stub, pb, shell, "call_method", "greet", {}, "grpcio")
            return {
                "grpcio_version": grpc.__version__,
                "report_uuid": report.uuid,
                "reports": [report_facts(r) for r in report.reports],
                "on": on,
                "off": off,
                "readings": readings,
                "methods": methods["result"],
                "greet_chunks": chunks,
                "greet_stdout": "".join(str(c[0]) for c in chunks),
                "greet_stderr": "".join(str(c[1]) for c in chunks),
                "greet_returncode": chunks[-1][2] if chunks else None,
                "missing_method": missing_method(stub, pb, power),
            }
        finally:
            channel.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Drive an exporter with grpcio; print JSON facts.")
    parser.add_argument("--target", required=True, help="unix:/path of the exporter socket")
    parser.add_argument("--proto-dir", type=Path, default=base.REPO / "proto")
    parser.add_argument("--google-proto-dir", type=Path, default=base.default_google_proto_dir())
    parser.add_argument("--connect-timeout", type=float, default=10.0)
    parser.add_argument(
        "--upload-gzip", type=Path, help="instead: write this .gz file to the driver named storage"
    )
    args = parser.parse_args(argv)
    try:
        facts = run(args)
    except base.CheckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except grpc.RpcError as err:
        failed: Any = err
        print(f"error: {failed.code().name}: {failed.details()}", file=sys.stderr)
        return 1
    except (IndexError, TypeError, KeyError) as err:  # an answer not shaped as upstream's
        print(f"error: unexpected answer shape: {err!r}", file=sys.stderr)
        return 1
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
