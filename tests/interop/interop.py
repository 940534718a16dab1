"""The OpenTelemetry Python SDK around a service under test (w3c-test-service).

As the upstream client it starts a span, puts baggage (and, for W3C trace context, a
tracestate) on the call, and asks the service to call our downstream server. As the
downstream server it extracts what arrives with the same propagator. It prints one JSON object:
what was sent upstream and what arrived downstream, for the Rust test to check.

    python interop.py --service http://127.0.0.1:PORT/ --format tracecontext|b3|b3multi|jaeger
"""

import argparse
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import baggage, context, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.jaeger import JaegerPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def propagator(fmt):
    if fmt == "tracecontext":
        return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    if fmt == "b3":
        return CompositePropagator([B3SingleFormat(), W3CBaggagePropagator()])
    if fmt == "b3multi":
        return CompositePropagator([B3MultiFormat(), W3CBaggagePropagator()])
    if fmt == "jaeger":
        # Jaeger carries baggage itself, in uberctx-* headers.
        return JaegerPropagator()
    raise SystemExit(f"unknown format {fmt}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--format", required=True)
    parser.add_argument("--unsampled", action="store_true")
    args = parser.parse_args()
    prop = propagator(args.format)
    provider = TracerProvider()
    tracer = provider.get_tracer("interop")
    arrived = {}
    done = threading.Event()

    class Downstream(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            carrier = {k.lower(): v for k, v in self.headers.items()}
            cx = prop.extract(carrier)
            parent = trace.get_current_span(cx).get_span_context()
            arrived.update(
                trace_id=format(parent.trace_id, "032x"),
                parent_span_id=format(parent.span_id, "016x"),
                sampled=parent.trace_flags.sampled,
                valid=parent.is_valid,
                tracestate=carrier.get("tracestate"),
                baggage={k: str(v) for k, v in baggage.get_all(cx).items()},
                headers=carrier,
                body=body.decode("utf-8", "replace"),
            )
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
            done.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Downstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    downstream = f"http://127.0.0.1:{server.server_address[1]}/downstream"

    sampler_flags = trace.TraceFlags(0 if args.unsampled else trace.TraceFlags.SAMPLED)
    with tracer.start_as_current_span("upstream", kind=trace.SpanKind.CLIENT) as span:
        sc = span.get_span_context()
        if args.unsampled:
            # The same ids, not sampled: the service must keep the decision.
            sc = trace.SpanContext(sc.trace_id, sc.span_id, True, sampler_flags, sc.trace_state)
        cx = trace.set_span_in_context(trace.NonRecordingSpan(sc))
        cx = baggage.set_baggage("tenant", "acme", context=cx)
        cx = baggage.set_baggage("user.tier", "gold", context=cx)
        headers = {"content-type": "application/json"}
        prop.inject(headers, context=cx)
        if args.format == "tracecontext":
            headers["tracestate"] = TRACESTATE
        sent = dict(headers)
        payload = json.dumps([{"url": downstream, "arguments": {"seq": 1}}]).encode()
        request = urllib.request.Request(args.service, data=payload, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    done.wait(5)
    server.shutdown()
    json.dump(
        {
            "status": status,
            "upstream": {
                "trace_id": format(sc.trace_id, "032x"),
                "span_id": format(sc.span_id, "016x"),
                "sampled": sc.trace_flags.sampled,
                "headers": sent,
            },
            "downstream": arrived,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
