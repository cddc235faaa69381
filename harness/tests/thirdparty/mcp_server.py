"""An MCP server built with the official Python SDK (FastMCP), for
harness/tests/mcp_cli.rs: streamable HTTP at /mcp with stateful sessions and SSE answers
(the SDK's default). Tools: `run_workflow` (structured content), `fail` (raises, so the
SDK answers `isError: true`), `slow` (progress notifications). A resource template
`workflow://{run_id}` and a prompt `summarise`; reading an unknown resource is a JSON-RPC
error. An ASGI wrapper counts `initialize` requests and DELETEs and keeps the session ids
the server handed out; it writes them to `<tmp>/harness-mcp-<port>.json` after each
request, for the test to compare with what harness wrote. With `--stdio` it serves one
session on stdin/stdout instead."""

import argparse
import json
import os
import tempfile

from typing import TypedDict

import uvicorn
from mcp.server.fastmcp import Context, FastMCP

# Quiet: the SDK logs every request (with session ids) and every failing prompt.
server = FastMCP("harness-test", log_level="CRITICAL")
STATS = {"initialize": 0, "delete": 0, "session_ids": []}


class Run(TypedDict):
    run_id: str
    status: str


@server.tool()
def run_workflow(workflow: str, steps: int = 1) -> Run:
    """Pretends to run a workflow; the answer's run_id is derived from its input."""
    return {"run_id": f"{workflow}-{steps}", "status": "done"}


@server.tool()
def fail(message: str) -> str:
    """Always fails: the SDK turns the exception into a result with isError."""
    raise ValueError(message)


@server.tool()
async def slow(ctx: Context) -> str:
    """Reports progress three times when the request asked for it."""
    for done in range(1, 4):
        await ctx.report_progress(done, 3)
    return "slow done"


@server.resource("workflow://{run_id}")
def workflow(run_id: str) -> str:
    """The state of a run."""
    if run_id == "missing":
        raise ValueError("no such run")
    return json.dumps({"run_id": run_id, "state": "finished"})


@server.prompt()
def summarise(run: str) -> str:
    """A prompt about a run."""
    return f"Summarise run {run}."


def counting(app, stats_file):
    """An ASGI wrapper that counts initialize requests and session closes."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body = bytearray()

        async def recv():
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        async def snd(message):
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"mcp-session-id":
                        sid = value.decode()
                        if sid not in STATS["session_ids"]:
                            STATS["session_ids"].append(sid)
            await send(message)

        await app(scope, recv, snd)
        if scope["method"] == "DELETE":
            STATS["delete"] += 1
        elif b'"method":"initialize"' in bytes(body).replace(b" ", b""):
            STATS["initialize"] += 1
        with open(stats_file + ".tmp", "w") as f:
            json.dump(STATS, f)
        os.replace(stats_file + ".tmp", stats_file)

    return wrapped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--stdio", action="store_true", help="serve one session on stdin/stdout")
    args = parser.parse_args()
    if args.stdio:
        server.run("stdio")
        return
    stats_file = os.path.join(tempfile.gettempdir(), f"harness-mcp-{args.port}.json")
    app = counting(server.streamable_http_app(), stats_file)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
