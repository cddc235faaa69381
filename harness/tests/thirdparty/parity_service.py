"""A small third-party service for harness's parity tests: FastAPI on uvicorn.

Nothing here is harness code: it stands for a team's service whose Dagger path is being
checked for functional parity with its legacy path. The path is chosen per request by
`X-Path: legacy | dagger`; on the Dagger path, `X-Defect` injects one regression:

- `dropped`: orders lose their `artifacts` field;
- `changed`: an order's `status` reads `"pending"` instead of `"open"`;
- `reordered`: an order's `steps` come in reverse order;
- `text`: the plain-text report says `v2` where the legacy path says `v1`.

Every answer also carries what real services carry and parity must learn as noise: a
random `id` per order and per line, a `created_at` timestamp, and `tags` in a random
order on both paths. An order echoes the caller's `Authorization` header as
`owner_token`, so a test can check that secrets never reach a report.
"""

import argparse
import datetime
import random
import uuid

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse

app = FastAPI()
ORDERS = {}


def defect(x_path, x_defect):
    return x_defect if x_path == "dagger" else None


def order_view(order, flaw):
    view = dict(order)
    view["tags"] = random.sample(order["tags"], len(order["tags"]))
    if flaw == "dropped":
        view.pop("artifacts", None)
    if flaw == "changed":
        view["status"] = "pending"
    if flaw == "reordered":
        view["steps"] = list(reversed(order["steps"]))
    return view


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/orders", status_code=201)
async def create(
    request: Request,
    x_path: str = Header("legacy"),
    x_defect: str = Header(""),
    authorization: str = Header(""),
):
    body = await request.json()
    order = {
        "id": str(uuid.uuid4()),
        "item": body.get("item", "unknown"),
        "status": "open",
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "lines": [
            {"id": str(uuid.uuid4()), "sku": "a-1", "quantity": 2},
            {"id": str(uuid.uuid4()), "sku": "b-2", "quantity": 1},
        ],
        "tags": ["fast", "new", "priority"],
        "steps": ["checkout", "build", "test"],
        "artifacts": [{"name": "build.log"}, {"name": "report.xml"}],
        "owner_token": authorization,
    }
    ORDERS[order["id"]] = order
    return JSONResponse(order_view(order, defect(x_path, x_defect)), status_code=201)


@app.get("/orders/{order_id}")
def read(order_id: str, x_path: str = Header("legacy"), x_defect: str = Header("")):
    order = ORDERS.get(order_id)
    if order is None:
        return JSONResponse({"error": "unknown order"}, status_code=404)
    return order_view(order, defect(x_path, x_defect))


@app.get("/orders/{order_id}/report")
def report(order_id: str, x_path: str = Header("legacy"), x_defect: str = Header("")):
    version = "v2" if defect(x_path, x_defect) == "text" else "v1"
    lines = len(ORDERS.get(order_id, {}).get("lines", []))
    return PlainTextResponse(f"order report {version}\nlines: {lines}\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
