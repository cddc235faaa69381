// A Toxiproxy fixture as a team would write it with toxiproxy-node-client (npm), run
// against `harness proxy --toxiproxy` by harness/tests/toxiproxy_clients.rs.
//
// It drives the API only through the client, measures what each toxic does to real
// traffic through the proxy (an upstream speaking a line protocol: `ECHO text` answers
// `text`; `SEND n` sends n bytes and closes), and prints one JSON line:
// {"calls_ok", "calls_failed", "failures": [...], "effects": {...}}. The client throws on
// any status of 400 or more, so a call fails exactly when it throws.
//
// Usage: node toxiproxy_fixture.js --api 127.0.0.1:PORT --upstream 127.0.0.1:PORT
"use strict";

const net = require("net");
const { Toxiproxy } = require("toxiproxy-node-client");

const state = { calls_ok: 0, calls_failed: 0, failures: [], effects: {} };

async function call(what, fn) {
  try {
    const value = await fn();
    state.calls_ok += 1;
    return value;
  } catch (error) {
    state.calls_failed += 1;
    state.failures.push(`${what}: ${error && error.message ? error.message : error}`);
    return undefined;
  }
}

function effect(name, values) {
  state.effects[name] = values;
}

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) {
    throw new Error(`missing ${name}`);
  }
  return process.argv[i + 1];
}

function split(addr) {
  const at = addr.lastIndexOf(":");
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

const round = (ms) => Math.round(ms * 10) / 10;

// Opens a connection, sends `line`, and watches for `wait` ms (or until `done(bytes)`):
// bytes back, reads, how and when it ended.
function exchange(addr, line, wait, done) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
    let bytes = 0;
    let reads = 0;
    let settled = false;
    const socket = net.connect(split(addr));
    socket.setNoDelay(true);
    const finish = (ended) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes, reads, ended, ms: round(elapsed()) });
    };
    const timer = setTimeout(() => finish("open"), wait);
    socket.on("connect", () => socket.write(line));
    socket.on("data", (chunk) => {
      bytes += chunk.length;
      reads += 1;
      if (done && done(bytes)) finish("answered");
    });
    socket.on("end", () => finish("eof"));
    socket.on("error", (e) => finish(e.code === "ECONNRESET" ? "reset" : e.code === "ECONNREFUSED" ? "refused" : `error: ${e.code}`));
    socket.on("close", () => finish("eof"));
  });
}

async function echoMs(addr) {
  const r = await exchange(addr, "ECHO ping\n", 10000, (n) => n >= 5);
  return r.ended === "answered" ? r.ms : null;
}

const download = (addr, n) => exchange(addr, `SEND ${n}\n`, 15000);
const probe = (addr, wait) => exchange(addr, "ECHO x\n", wait);

async function refused(addr) {
  const r = await exchange(addr, "", 2000, () => false);
  return r.ended === "refused";
}

// Whether a connection open through `addr` ends within 3 s of `action()`.
async function cutWhen(addr, action) {
  const socket = net.connect(split(addr));
  await new Promise((resolve) => {
    socket.once("data", resolve);
    socket.once("error", resolve);
    socket.on("connect", () => socket.write("ECHO before\n"));
  });
  const ended = new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 3000);
    const end = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once("end", end);
    socket.once("close", end);
    socket.once("error", end);
  });
  await action();
  const cut = await ended;
  socket.destroy();
  return cut;
}

async function main() {
  const api = arg("--api");
  const upstream = arg("--upstream");
  const toxiproxy = new Toxiproxy(`http://${api}`);

  effect("version", { text: await call("getVersion", () => toxiproxy.getVersion()) });
  const existing = (await call("getAll", () => toxiproxy.getAll())) || {};
  for (const name of Object.keys(existing)) {
    await call(`remove ${name}`, () => existing[name].remove());
  }

  // As fixtures do at start: populate the proxies the tests use.
  const made = (await call("populate", () =>
    toxiproxy.populate([
      { name: "js_main", listen: "127.0.0.1:0", upstream, enabled: true },
      { name: "js_spare", listen: "127.0.0.1:0", upstream, enabled: true },
    ]))) || {};
  effect("populated", { created: Object.keys(made).length });
  const created = await call("createProxy", () =>
    toxiproxy.createProxy({ name: "js_extra", listen: "localhost:0", upstream }));
  const proxy = await call("get", () => toxiproxy.get("js_main"));
  if (!proxy) {
    console.log(JSON.stringify(state));
    return;
  }
  const addr = proxy.listen;
  effect("baseline", { ms: await echoMs(addr) });

  const toxic = (body) =>
    call(`addToxic ${body.name}`, () =>
      proxy.addToxic({ stream: "downstream", toxicity: 1, ...body }));
  // A toxic whose creation failed (already counted) has nothing to remove.
  const remove = (t, name) => (t ? call(`remove toxic ${name}`, () => t.remove()) : undefined);

  let t = await toxic({ name: "lat", type: "latency", attributes: { latency: 300, jitter: 0 } });
  effect("latency", { ms: await echoMs(addr) });
  t = (await call("getToxic", () => proxy.getToxic("lat"))) || t;
  const updated = await call("toxic update", () =>
    t.update({ ...t.toJson(), attributes: { latency: 600, jitter: 0 } }));
  effect("latency_updated", { ms: await echoMs(addr), attribute: updated && updated.attributes.latency });
  await remove(t, "lat");
  effect("latency_removed", { ms: await echoMs(addr) });

  t = await toxic({ name: "lat_up", type: "latency", stream: "upstream", attributes: { latency: 300 } });
  effect("latency_upstream", { ms: await echoMs(addr) });
  await remove(t, "lat_up");

  t = await toxic({ name: "lat_never", type: "latency", toxicity: 0, attributes: { latency: 1000 } });
  effect("latency_toxicity_0", { ms: await echoMs(addr) });
  await remove(t, "lat_never");

  t = await toxic({ name: "bw", type: "bandwidth", attributes: { rate: 50 } });
  effect("bandwidth", await download(addr, 50000));
  await remove(t, "bw");

  t = await toxic({ name: "sc", type: "slow_close", attributes: { delay: 500 } });
  effect("slow_close", await download(addr, 10));
  await remove(t, "sc");

  t = await toxic({ name: "to0", type: "timeout", attributes: { timeout: 0 } });
  effect("timeout_0", await probe(addr, 1000));
  await remove(t, "to0");

  t = await toxic({ name: "timeout_500", type: "timeout", attributes: { timeout: 500 } });
  effect("timeout_500", await probe(addr, 5000));
  await remove(t, "timeout_500");

  t = await toxic({ name: "rp", type: "reset_peer", attributes: { timeout: 0 } });
  effect("reset_peer", await probe(addr, 3000));
  await remove(t, "rp");

  t = await toxic({ name: "reset_peer_timeout", type: "reset_peer", attributes: { timeout: 500 } });
  effect("reset_peer_timeout", await probe(addr, 5000));
  await remove(t, "reset_peer_timeout");

  t = await toxic({
    name: "slicer",
    type: "slicer",
    attributes: { average_size: 100, size_variation: 10, delay: 20000 },
  });
  effect("slicer", await download(addr, 1000));
  await remove(t, "slicer");

  t = await toxic({ name: "ld", type: "limit_data", attributes: { bytes: 1000 } });
  effect("limit_data", await download(addr, 5000));
  await remove(t, "ld");

  // Down: refused while disabled, an open connection is cut, back after enable.
  const body = { listen: proxy.listen, upstream: proxy.upstream };
  const cut = await cutWhen(addr, () =>
    call("update enabled=false", () => proxy.update({ ...body, enabled: false })));
  effect("disabled", { refused: await refused(addr), established_cut: cut });
  await call("update enabled=true", () => proxy.update({ ...body, enabled: true }));
  effect("reenabled", { ms: await echoMs(addr) });
  // No context manager in this client: down is an update and its undo.
  await call("update enabled=false", () => proxy.update({ ...body, enabled: false }));
  const inside = await refused(addr);
  await call("update enabled=true", () => proxy.update({ ...body, enabled: true }));
  effect("down_context", { refused_inside: inside, after_ms: await echoMs(addr) });

  // Update the upstream and listen address of another proxy.
  if (created) {
    const moved = await call("update upstream", () =>
      created.update({ enabled: true, listen: "127.0.0.1:0", upstream }));
    effect("updated", { listen: moved && moved.listen, ms: moved ? await echoMs(moved.listen) : null });
  }

  // Reset: re-enables and clears toxics.
  await toxic({ name: "left", type: "latency", attributes: { latency: 1 } });
  await call("update enabled=false", () => proxy.update({ ...body, enabled: false }));
  await call("reset", () => toxiproxy.reset());
  const again = await call("get", () => toxiproxy.get("js_main"));
  const all = (await call("getAll", () => toxiproxy.getAll())) || {};
  effect("reset", {
    enabled: again ? again.enabled : null,
    ms: await echoMs(addr),
    listed: Object.keys(all).sort(),
  });
  const raw = await call("getToxic after reset (404 expected by the fixture)", () =>
    proxy.getToxic("left").then(() => "present", () => "absent"));
  effect("reset_toxic", { left: raw });
  state.effects.reset.toxics = raw === "absent" ? 0 : 1;

  const spare = all.js_spare;
  if (spare) {
    await call("remove js_spare", () => spare.remove());
    effect("deleted", { refused: await refused(spare.listen) });
  }
  for (const name of ["js_main", "js_extra"]) {
    if (all[name]) await call(`remove ${name}`, () => all[name].remove());
  }
  console.log(JSON.stringify(state));
}

main().catch((error) => {
  state.failures.push(`fixture: ${error && error.stack ? error.stack : error}`);
  console.log(JSON.stringify(state));
});
