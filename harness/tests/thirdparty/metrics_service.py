"""A tiny service instrumented with the official Prometheus Python client, for
harness/tests/metrics_scrape.rs: every request but GET /metrics is answered 200 and
counted (a counter with an escaped label value, a histogram, a gauge); GET /metrics is
the client's own exposition, with its default process collector."""

import argparse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

REQUESTS = Counter("demo_requests", "Requests answered.", ["route"])
LATENCY = Histogram("demo_latency_seconds", "Time to answer.", buckets=(0.001, 0.01, 0.1))
IN_FLIGHT = Gauge("demo_in_flight", "Requests being answered.")
# A label value that needs escaping in the text format.
ROUTE = 'work "quoted" \\ path'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/metrics":
            self.answer(generate_latest(), CONTENT_TYPE_LATEST)
            return
        with IN_FLIGHT.track_inprogress():
            started = time.perf_counter()
            self.answer(b"{}", "application/json")
            LATENCY.observe(time.perf_counter() - started)
            REQUESTS.labels(route=ROUTE).inc()

    def answer(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
