"""Counts the instructions one GetOrder costs the order service, and the bare axum handler and
tonic service over the same store, under valgrind's callgrind, over HTTP and over gRPC: unlike
requests per second, the count does not move with what else the machine is doing, so small
changes to the per-request path show.

Usage: instructions.py SERVICE BARE CONFIG WORK REQUESTS
  SERVICE  the order service binary; BARE  the load bench binary (it serves the bare handlers
  when LOAD_BENCH_SERVE_BARE is set, and makes gRPC calls one after another when
  LOAD_BENCH_CALL_GRPC is); CONFIG  the order service's config file; WORK  a scratch folder;
  REQUESTS  how many GetOrders are counted (after a tenth as many to warm up).
Prints `RESULT<TAB>measure<TAB>figure` lines, as the load bench does."""

import http.client
import os
import socket
import sqlite3
import subprocess
import sys
import time

ORDER_ID = "ord_instructions"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"error: nothing answered on port {port} within {seconds} s")


def get_orders(port, count):
    """`count` GetOrders, one after another on one keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(count):
        connection.request("GET", f"/api/v1/orders/{ORDER_ID}")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"error: GetOrder answered {response.status}: {body[:200]!r}")


def grpc_calls(client, port, count):
    """`count` gRPC GetOrders, one after another on one connection, made by the load bench's
    client mode (a separate process: only the server is counted)."""
    env = dict(os.environ)
    env["LOAD_BENCH_CALL_GRPC"] = f"http://127.0.0.1:{port} {ORDER_ID} {count}"
    subprocess.run([client], env=env, check=True, stdout=subprocess.DEVNULL)


def environment(database, http_port, grpc_port):
    env = dict(os.environ)
    env.update(
        APP_DATABASE__URL=f"sqlite://{database}",
        APP_SERVER__HTTP__ADDR=f"127.0.0.1:{http_port}",
        APP_SERVER__GRPC__ADDR=f"127.0.0.1:{grpc_port}",
        # Under valgrind a request is some fifty times slower than natively.
        APP_SERVER__HTTP__TIMEOUT="60s",
        APP_LOG__LEVEL="info",
    )
    return env


def prepare(service, config, database):
    """A store with one order: the service migrates it, the order is written beside it."""
    port = free_port()
    process = subprocess.Popen(
        [service, "--conf", config],
        env=environment(database, port, free_port()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready(port, 60)
    finally:
        process.terminate()
        process.wait()
    db = sqlite3.connect(database)
    now = int(time.time() * 1000)
    db.execute(
        "INSERT INTO orders (id, user_id, total_amount, status, address, remark, created_at, updated_at)"
        " VALUES (?, 'user_123', 599900, 1, 'Beijing Chaoyang District xxx', 'Please ship ASAP', ?, ?)",
        (ORDER_ID, now, now),
    )
    db.execute(
        "INSERT INTO order_items (order_id, position, product_id, product_name, quantity, unit_price)"
        " VALUES (?, 0, 'prod_001', 'iPhone 15', 1, 599900)",
        (ORDER_ID,),
    )
    db.commit()


def instructions(name, command, env, port, send, requests, work):
    """The instructions `command` spends on `requests` GetOrders made by `send(count)`, counted
    from after the warm-up to the last answer (callgrind's zero and dump requests bracket them)."""
    output = os.path.join(work, f"{name}.%p")
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={output}", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready(port, 300)
        send(max(requests // 10, 1))
        control = ["callgrind_control"]
        subprocess.run([*control, "-z", str(process.pid)], check=True, capture_output=True)
        send(requests)
        subprocess.run([*control, "-d", str(process.pid)], check=True, capture_output=True)
    finally:
        process.terminate()
        process.wait()
    dump = os.path.join(work, f"{name}.{process.pid}.1")
    with open(dump) as text:
        for line in text:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit(f"error: no totals in {dump}")


def main():
    service, bare, config, work, requests = sys.argv[1:6]
    requests = int(requests)
    database = os.path.join(work, "instructions.db")
    prepare(service, config, database)
    for transport in ["HTTP", "gRPC"]:
        counts = {}
        for name, command, extra in [
            ("service", [service, "--conf", config], {}),
            ("bare", [bare, "--conf", config], {"LOAD_BENCH_SERVE_BARE": "1"}),
        ]:
            http_port, grpc_port = free_port(), free_port()
            env = environment(database, http_port, grpc_port)
            env.update(extra)
            if transport == "HTTP":
                send = lambda count: get_orders(http_port, count)  # noqa: E731
            else:
                send = lambda count: grpc_calls(bare, grpc_port, count)  # noqa: E731
            label = f"{transport.lower()}-{name}"
            total = instructions(label, command, env, http_port, send, requests, work)
            counts[name] = total / requests
        print(
            f"RESULT\t{transport} get, instructions per request (callgrind, {requests} requests)"
            f"\tservice {counts['service'] / 1000:.1f}k, bare {counts['bare'] / 1000:.1f}k,"
            f" service / bare {counts['service'] / counts['bare']:.2f}"
        )


if __name__ == "__main__":
    main()
