"""A Toxiproxy fixture as a team would write it with toxiproxy-python (PyPI), run
against `harness proxy --toxiproxy` by harness/tests/toxiproxy_clients.rs.

It drives the API only through the client, measures what each toxic does to real
traffic through the proxy (an upstream speaking a line protocol: `ECHO text` answers
`text`; `SEND n` sends n bytes and closes), and prints one JSON line:
{"calls_ok", "calls_failed", "http_requests", "failures": [...], "effects": {...}}.

The client does not raise on every failed status (it ignores 415, 403, 500...), so
every HTTP answer is recorded too: a client call fails if it raises or if any request
it made was answered with a status of 400 or more.

Usage: toxiproxy_fixture.py --api 127.0.0.1:PORT --upstream 127.0.0.1:PORT
"""

import argparse
import json
import socket
import sys
import time

import toxiproxy.api
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

STATE = {"calls_ok": 0, "calls_failed": 0, "http_requests": 0, "failures": [], "effects": {}}
_ANSWERS = []
_validate = toxiproxy.api.validate_response


def _recording_validate(response):
    STATE["http_requests"] += 1
    _ANSWERS.append(response)
    return _validate(response)


toxiproxy.api.validate_response = _recording_validate


def call(what, fn, *args, **kwargs):
    """One client call, counted; its value, or None when it failed."""
    del _ANSWERS[:]
    try:
        value = fn(*args, **kwargs)
    except Exception as error:  # any failure of the client is a failed call
        STATE["calls_failed"] += 1
        STATE["failures"].append("%s: %s: %s" % (what, type(error).__name__, error))
        return None
    bad = [r for r in _ANSWERS if r.status_code >= 400]
    if bad:
        STATE["calls_failed"] += 1
        STATE["failures"].append(
            "%s: HTTP %d %s" % (what, bad[0].status_code, bad[0].text.strip()[:300])
        )
        return None
    STATE["calls_ok"] += 1
    return value


def effect(name, **values):
    STATE["effects"][name] = values


# --- traffic through a proxy ---------------------------------------------------------


def split(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def connect(addr, timeout=10.0):
    sock = socket.create_connection(split(addr), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def echo_ms(addr):
    """Milliseconds for `ECHO ping` to come back through `addr`, or None."""
    try:
        with connect(addr) as sock:
            started = time.monotonic()
            sock.sendall(b"ECHO ping\n")
            got = b""
            while not got.endswith(b"\n"):
                chunk = sock.recv(1024)
                if not chunk:
                    return None
                got += chunk
            return round((time.monotonic() - started) * 1000.0, 1)
    except OSError:
        return None


def download(addr, n, timeout=15.0):
    """`SEND n` through `addr`: bytes, reads, ms until the end, how it ended."""
    received, reads, ended = 0, 0, "open"
    started = time.monotonic()
    try:
        with connect(addr, timeout) as sock:
            sock.sendall(b"SEND %d\n" % n)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    ended = "eof"
                    break
                received += len(chunk)
                reads += 1
    except ConnectionResetError:
        ended = "reset"
    except socket.timeout:
        ended = "open"
    except OSError as error:
        ended = "error: %s" % error
    ms = round((time.monotonic() - started) * 1000.0, 1)
    return {"bytes": received, "reads": reads, "ms": ms, "ended": ended}


def probe(addr, wait):
    """Sends `ECHO x` and watches for `wait` seconds: bytes back, how and when it ended."""
    received, ended = 0, "open"
    started = time.monotonic()
    try:
        with connect(addr) as sock:
            sock.settimeout(wait)
            sock.sendall(b"ECHO x\n")
            while True:
                chunk = sock.recv(1024)
                if not chunk:
                    ended = "eof"
                    break
                received += len(chunk)
    except ConnectionResetError:
        ended = "reset"
    except socket.timeout:
        ended = "open"
    except OSError as error:
        ended = "error: %s" % error
    ms = round((time.monotonic() - started) * 1000.0, 1)
    return {"bytes": received, "ended": ended, "ms": ms}


def refused(addr):
    try:
        with connect(addr, timeout=2.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def cut_when(addr, action):
    """Whether a connection open through `addr` ends within 3 s of `action()`."""
    try:
        sock = connect(addr)
        sock.sendall(b"ECHO before\n")
        sock.recv(1024)
    except OSError:
        return False
    action()
    sock.settimeout(3.0)
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        sock.close()


# --- the fixture ---------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    host, port = split(args.api)

    server = Toxiproxy()
    server.update_api_consumer(host, port)
    call("running", server.running)
    effect("version", text=(call("version", server.version) or b"").decode("utf-8", "replace"))
    call("destroy_all", server.destroy_all)

    # As fixtures do at start: populate the proxies the tests use.
    made = call(
        "populate",
        server.populate,
        [
            {"name": "py_main", "upstream": args.upstream, "listen": "127.0.0.1:0"},
            {"name": "py_spare", "upstream": args.upstream, "listen": "127.0.0.1:0"},
        ],
    ) or []
    listed = call("proxies", server.proxies) or {}
    effect("populated", created=len(made), listed=sorted(listed))
    proxy = call("get_proxy", server.get_proxy, "py_main")
    if proxy is None:
        print(json.dumps(STATE))
        return
    addr = proxy.listen
    effect("baseline", ms=echo_ms(addr))

    def toxic(name, **kwargs):
        return call("add_toxic %s" % name, proxy.add_toxic, name=name, **kwargs)

    def destroy(name):
        return call("destroy_toxic %s" % name, proxy.destroy_toxic, name)

    toxic("lat", type="latency", attributes={"latency": 300, "jitter": 0})
    effect("latency", ms=echo_ms(addr))
    call("toxics", proxy.toxics)
    call("get_toxic", proxy.get_toxic, "lat")
    # The client has no toxic update; its API consumer posts one, as its docs suggest.
    call(
        "update toxic",
        APIConsumer.post,
        "/proxies/py_main/toxics/lat",
        json={"attributes": {"latency": 600}},
    )
    effect("latency_updated", ms=echo_ms(addr))
    destroy("lat")
    effect("latency_removed", ms=echo_ms(addr))

    toxic("lat_up", type="latency", stream="upstream", attributes={"latency": 300})
    effect("latency_upstream", ms=echo_ms(addr))
    destroy("lat_up")

    toxic("lat_never", type="latency", toxicity=0.0, attributes={"latency": 1000})
    effect("latency_toxicity_0", ms=echo_ms(addr))
    destroy("lat_never")

    toxic("bw", type="bandwidth", attributes={"rate": 50})
    effect("bandwidth", **download(addr, 50000))
    destroy("bw")

    toxic("sc", type="slow_close", attributes={"delay": 500})
    effect("slow_close", **download(addr, 10))
    destroy("sc")

    toxic("to0", type="timeout", attributes={"timeout": 0})
    effect("timeout_0", **probe(addr, 1.0))
    destroy("to0")

    toxic("timeout_500", type="timeout", attributes={"timeout": 500})
    effect("timeout_500", **probe(addr, 5.0))
    destroy("timeout_500")

    toxic("rp", type="reset_peer", attributes={"timeout": 0})
    effect("reset_peer", **probe(addr, 3.0))
    destroy("rp")

    toxic("reset_peer_timeout", type="reset_peer", attributes={"timeout": 500})
    effect("reset_peer_timeout", **probe(addr, 5.0))
    destroy("reset_peer_timeout")

    toxic(
        "slicer",
        type="slicer",
        attributes={"average_size": 100, "size_variation": 10, "delay": 20000},
    )
    effect("slicer", **download(addr, 1000))
    destroy("slicer")

    toxic("ld", type="limit_data", attributes={"bytes": 1000})
    effect("limit_data", **download(addr, 5000))
    destroy("ld")

    # Down: refused while disabled, an open connection is cut, back after enable.
    cut = cut_when(addr, lambda: call("disable", proxy.disable))
    effect("disabled", refused=refused(addr), established_cut=cut)
    call("enable", proxy.enable)
    effect("reenabled", ms=echo_ms(addr))

    def inside_down():
        with proxy.down():
            return refused(addr)

    inside = call("with proxy.down()", inside_down)
    effect("down_context", refused_inside=inside, after_ms=echo_ms(addr))

    # Reset: re-enables and clears toxics.
    toxic("left", type="latency", attributes={"latency": 1})
    call("disable", proxy.disable)
    call("reset", server.reset)
    again = (call("proxies", server.proxies) or {}).get("py_main")
    left = call("toxics", proxy.toxics)
    effect(
        "reset",
        enabled=getattr(again, "enabled", None),
        toxics=None if left is None else len(left),
        ms=echo_ms(addr),
    )

    # The client has no proxy update beyond enable/disable; its API consumer posts one.
    moved = call(
        "update listen and upstream",
        APIConsumer.post,
        "/proxies/py_spare",
        json={"listen": "127.0.0.1:0", "upstream": args.upstream},
    )
    moved_listen = moved.json().get("listen") if moved is not None else None
    effect("updated", listen=moved_listen, ms=echo_ms(moved_listen) if moved_listen else None)

    spare = (call("proxies", server.proxies) or {}).get("py_spare")
    if spare is not None:
        spare_addr = spare.listen
        call("destroy", server.destroy, spare)
        effect("deleted", refused=refused(spare_addr))
    call("destroy", proxy.destroy)
    print(json.dumps(STATE))


if __name__ == "__main__":
    sys.exit(main())
