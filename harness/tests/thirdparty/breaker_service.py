"""A small third-party service for harness's integration tests: FastAPI on uvicorn, its
dependency called through httpx, its circuit breaker from the pybreaker library.

Nothing here is harness code: it stands for a team's real service. Two paths, chosen per
request by the feature-flag header as a migrating service would:

- legacy (`X-Feature-USE_DAGGER_WORKFLOW_ENGINE: false`): calls the dependency directly;
- dagger (`... : true`): calls it through a pybreaker CircuitBreaker (fail_max failures
  open it for reset_timeout seconds, then one half-open trial call).

How it forwards the client's request id to the dependency (`--propagate`):

- `otel`: OpenTelemetry instrumentation of FastAPI and httpx, which propagates W3C
  `traceparent` on the outgoing call, as an instrumented service does;
- `header`: copies `x-harness-request-id` by hand;
- `none`: forwards nothing (most services).

`GET /stats` returns the service's own counters per path (dependency calls made, calls
refused by the open breaker, breaker openings with their times, the first failed call's
time), so a test can check harness's outside view against them. Times are
`time.monotonic()` seconds.
"""

import argparse
import threading
import time

import httpx
import pybreaker
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

FLAG = "x-feature-use_dagger_workflow_engine"


class Counters:
    """The service's own view of one path."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.dependency_calls = 0
        self.dependency_failures = 0
        self.short_circuits = 0
        self.openings = []
        self.first_failure = None

    def snapshot(self):
        with self.lock:
            return {
                "requests": self.requests,
                "dependency_calls": self.dependency_calls,
                "dependency_failures": self.dependency_failures,
                "short_circuits": self.short_circuits,
                "openings": list(self.openings),
                "first_failure": self.first_failure,
            }


class OpeningsListener(pybreaker.CircuitBreakerListener):
    """Records when the breaker opens."""

    def __init__(self, counters):
        self.counters = counters

    def state_change(self, cb, old_state, new_state):
        if new_state.name == pybreaker.STATE_OPEN:
            with self.counters.lock:
                self.counters.openings.append(time.monotonic())


def build_app(dependency, propagate, fail_max, reset_timeout, timeout):
    app = FastAPI()
    client = httpx.Client(base_url=dependency, timeout=timeout)
    counters = {"legacy": Counters(), "dagger": Counters()}
    breaker = pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        listeners=[OpeningsListener(counters["dagger"])],
    )

    if propagate == "otel":
        from opentelemetry import trace
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())
        FastAPIInstrumentor.instrument_app(app)
        HTTPXClientInstrumentor().instrument_client(client)

    def call_dependency(path_counters, headers):
        with path_counters.lock:
            path_counters.dependency_calls += 1
        try:
            answer = client.post("/execute", json={"workflow": "build"}, headers=headers)
            failed = answer.status_code >= 500
        except httpx.HTTPError:
            failed = True
        if failed:
            with path_counters.lock:
                path_counters.dependency_failures += 1
                if path_counters.first_failure is None:
                    path_counters.first_failure = time.monotonic()
            raise RuntimeError("dependency failed")
        return answer

    @app.post("/api/workflows/execute")
    def execute(request: Request):
        path = "dagger" if request.headers.get(FLAG, "false") == "true" else "legacy"
        path_counters = counters[path]
        with path_counters.lock:
            path_counters.requests += 1
        headers = {}
        if propagate == "header" and "x-harness-request-id" in request.headers:
            headers["x-harness-request-id"] = request.headers["x-harness-request-id"]
        try:
            if path == "dagger":
                breaker.call(call_dependency, path_counters, headers)
            else:
                call_dependency(path_counters, headers)
        except pybreaker.CircuitBreakerError:
            with path_counters.lock:
                path_counters.short_circuits += 1
            return JSONResponse({"error": "circuit open"}, status_code=503)
        except RuntimeError:
            return JSONResponse({"error": "dependency failed"}, status_code=502)
        return {"status": "done", "path": path}

    @app.get("/stats")
    def stats():
        return {
            "now": time.monotonic(),
            "legacy": counters["legacy"].snapshot(),
            "dagger": counters["dagger"].snapshot(),
        }

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dependency", required=True, help="base URL of the dependency")
    parser.add_argument("--propagate", choices=["otel", "header", "none"], default="otel")
    parser.add_argument("--fail-max", type=int, default=5)
    parser.add_argument("--reset-timeout", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=0.5)
    args = parser.parse_args()
    app = build_app(
        args.dependency, args.propagate, args.fail_max, args.reset_timeout, args.timeout
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
