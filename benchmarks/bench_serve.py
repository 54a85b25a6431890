"""Server load test on loopback: N concurrent streaming clients for a fixed time.

Starts `codelm serve` as a subprocess (so the load generator does not share
the server's interpreter) over a checkpoint (`--model DIR`, or a
random-initialised `decoder-small` built like bench_generate.py), then runs
`--clients` asyncio clients that each send streaming `/v1/completions`
requests back to back (sampled, `max_tokens` each, prompts from held-out
standard-library functions) until `--seconds` have passed; requests in
flight at the end are allowed to finish.

Reported: requests, status codes (goal: zero 5xx), client errors, p50/p95
time to first token (first SSE chunk that carries text) and total latency,
generated tokens/s over the run (from `usage`).

    python benchmarks/bench_serve.py [--clients 16] [--seconds 60] [--max-tokens 64] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench_generate import build_checkpoint, function_prompts, held_out, stdlib_files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return round(values[k], 4)


async def one_request(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    async with client.stream("POST", url, json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return {
                "status": r.status_code,
                "ttft": None,
                "total": time.perf_counter() - start,
                "tokens": 0,
            }
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            payload = line[6:]
            if payload == "[DONE]":
                break
            chunk = json.loads(payload)
            if "error" in chunk:
                return {
                    "status": 599,
                    "ttft": None,
                    "total": time.perf_counter() - start,
                    "tokens": 0,
                }
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if first is None and any(c.get("text") for c in chunk.get("choices", [])):
                first = time.perf_counter() - start
    return {"status": 200, "ttft": first, "total": time.perf_counter() - start, "tokens": tokens}


async def client_loop(
    i: int,
    base: str,
    prompts: list[str],
    args: argparse.Namespace,
    stop_at: float,
    out: list[dict[str, Any]],
    errors: list[str],
) -> None:
    timeout = httpx.Timeout(120.0, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout) as client:
        n = 0
        while time.perf_counter() < stop_at:
            body = {
                "model": "bench",
                "prompt": prompts[(i * 7 + n) % len(prompts)],
                "max_tokens": args.max_tokens,
                "temperature": 0.8,
                "seed": i * 1000 + n,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            n += 1
            try:
                out.append(await one_request(client, base + "/v1/completions", body))
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")


async def run_load(base: str, prompts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    start = time.perf_counter()
    stop_at = start + args.seconds
    await asyncio.gather(
        *(
            client_loop(i, base, prompts, args, stop_at, results, errors)
            for i in range(args.clients)
        )
    )
    wall = time.perf_counter() - start
    ok = [r for r in results if r["status"] == 200]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    ttft = [r["ttft"] for r in ok if r["ttft"] is not None]
    total = [r["total"] for r in ok]
    tokens = sum(r["tokens"] for r in ok)
    return {
        "requests": len(results),
        "status_codes": statuses,
        "server_errors_5xx": sum(v for k, v in statuses.items() if k.startswith("5")),
        "client_errors": len(errors),
        "client_error_samples": errors[:3],
        "ttft_s": {
            "p50": percentile(ttft, 50),
            "p95": percentile(ttft, 95),
            "mean": round(statistics.mean(ttft), 4) if ttft else None,
        },
        "latency_s": {
            "p50": percentile(total, 50),
            "p95": percentile(total, 95),
            "max": round(max(total), 4) if total else None,
        },
        "generated_tokens": tokens,
        "tokens_per_second": round(tokens / wall, 1),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path)
    ap.add_argument("--preset", default="decoder-small")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--train-steps", type=int, default=0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--max-batch-size", type=int, default=16)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="server torch threads (one core left for the clients)",
    )
    ap.add_argument("--quantize", choices=["int8"], default=None)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    files = stdlib_files()
    prompts = function_prompts([p for p in files if held_out(p)], 64)
    tmp = tempfile.TemporaryDirectory()
    model_dir = args.model
    if model_dir is None:
        model_dir = Path(tmp.name) / "ckpt"
        build_checkpoint(args, [p for p in files if not held_out(p)], model_dir)
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "codelm",
        "serve",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        "--model-name",
        "bench",
        "--quiet",
        "--set",
        f"max_batch_size={args.max_batch_size}",
        "--set",
        "max_queue=256",
        "--set",
        f"load.threads={args.threads}",
    ]
    if args.quantize:
        cmd += ["--quantize", args.quantize]
    server = subprocess.Popen(cmd, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise SystemExit(f"server exited with {server.returncode}")
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not become ready in 180 s")
            time.sleep(0.2)
        info = httpx.get(base + "/v1/models", timeout=5).json()["data"][0]
        load = asyncio.run(run_load(base, prompts, args))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    report = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "server": {
            "model": info["id"],
            "max_model_len": info["max_model_len"],
            "preset": args.preset if args.model is None else str(args.model),
            "max_batch_size": args.max_batch_size,
            "threads": args.threads,
            "quantize": args.quantize,
        },
        "load": {
            "clients": args.clients,
            "seconds": args.seconds,
            "max_tokens": args.max_tokens,
            "stream": True,
            "temperature": 0.8,
        },
        "results": load,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
