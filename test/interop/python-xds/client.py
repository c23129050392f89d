"""A proxyless gRPC client in Python (grpcio, gRPC C-core): dials xds:///<service> with the
bootstrap file GRPC_XDS_BOOTSTRAP names and calls grpc.health.v1.Health/Check.

Driven line by line on stdin by test/kit/python-xds.ts; answers one JSON line per command:
  {"cmd": "call", "service": "api", "count": 20, "wait_for_ready": true, "timeout": 5}
  -> {"ok": 20, "errors": []}
"""
import json
import sys

import grpc

channels = {}


def check(service):
    if service not in channels:
        channel = grpc.insecure_channel(f"xds:///{service}")
        # An empty HealthCheckRequest is zero bytes; the answer is read as raw bytes.
        channels[service] = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda request: request,
            response_deserializer=lambda response: response,
        )
    return channels[service]


def main():
    print(json.dumps({"ready": True, "grpc": grpc.__version__}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] != "call":
            print(json.dumps({"error": f"unknown command {command['cmd']}"}), flush=True)
            continue
        method = check(command["service"])
        ok, errors = 0, []
        for _ in range(command["count"]):
            try:
                method(b"", timeout=command.get("timeout", 2), wait_for_ready=command.get("wait_for_ready", False))
                ok += 1
            except grpc.RpcError as err:
                errors.append(f"{err.code().name}: {err.details()}")
        print(json.dumps({"ok": ok, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()
