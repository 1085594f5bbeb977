#!/usr/bin/env python3
"""soak.py: the helper of bench/soak.sh (not a test; the soak needs a quiet machine).

  soak.py chaos PORT SECONDS OUT.jsonl   misbehaving clients and probes for SECONDS: one line per
                                         request sent (kind, status, id, text)
  soak.py replay PORT CHAOS.jsonl N      re-sends N probes one at a time (the server otherwise
                                         idle) and compares each text with the text it got under
                                         load; prints JSON {checked, mismatches, ids_unique}
  soak.py report OUT_DIR                 reads the run directory, checks, writes soak.json,
                                         prints a table; exit 1 when a check fails

Chaos kinds (every one a request to a generation endpoint, so that the server's
moecap_requests_total outcomes must add up to the requests sent):
  cut_stream   streaming completion, the client hangs up after the first events
  cut_wait     non-streaming completion, the client hangs up before the answer
  bad_json     body that is not JSON (400)
  bad_type     'prompt' of the wrong type (400)
  over_ctx     max_tokens beyond the context (400)
  oversize     Content-Length over --max-body announced (413, answered before the body)
  probe        greedy completion with echo and a prompt naming k ("probe k: ..."), streaming or
               not: its answer must start with its own prompt (a request never gets another's
               output); the texts are also replayed alone afterwards and compared (equal only
               as far as the engine's kernels are batch-invariant: reported, not required)
"""
import json
import os
import random
import socket
import statistics
import sys
import time

KINDS = ["probe", "cut_stream", "bad_json", "probe", "cut_wait", "bad_type", "probe",
         "over_ctx", "oversize"]


def http(port, path, body, timeout=120.0, extra=b""):
    """(status, body bytes) of one request on its own connection."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n"
              b"Content-Type: application/json\r\nContent-Length: " + str(len(data)).encode() +
              extra + b"\r\n\r\n" + data)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    head, _, payload = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    if b"transfer-encoding: chunked" in head.lower():
        payload = dechunk(payload)
    return status, payload


def dechunk(b):
    out, i = b"", 0
    while i < len(b):
        j = b.index(b"\r\n", i)
        n = int(b[i:j], 16)
        if n == 0:
            break
        out += b[j + 2:j + 2 + n]
        i = j + 2 + n + 2
    return out


def probe_body(k, stream):
    words = " ".join("w%d" % ((k * 7 + i) % 97) for i in range(4 + k % 9))
    return {"prompt": "probe %d: %s" % (k, words), "max_tokens": 24, "temperature": 0,
            "seed": k, "ignore_eos": True, "stream": stream, "echo": True}


def probe_text(status, payload, stream):
    """(id, text) of a probe's answer."""
    if status != 200:
        return None, None
    if not stream:
        o = json.loads(payload)
        return o["id"], o["choices"][0]["text"]
    rid, text = None, ""
    for ev in payload.decode("utf-8").split("\n\n"):
        if not ev.startswith("data: ") or ev == "data: [DONE]":
            continue
        o = json.loads(ev[6:])
        rid = o.get("id", rid)
        for ch in o.get("choices", []):
            text += ch.get("text") or ""
    return rid, text


def cut(port, body, wait_s, read_events):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json"
              b"\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    got = b""
    if read_events:
        while got.count(b"data: ") < read_events:
            b = s.recv(4096)
            if not b:
                break
            got += b
    else:
        time.sleep(wait_s)
    s.close()
    return 0  # no status: the client left


def one(port, kind, k):
    """Sends one chaos request; returns its log line."""
    rec = {"kind": kind, "k": k, "t": time.time()}
    long_req = {"prompt": "cut %d" % k, "max_tokens": 200, "ignore_eos": True}
    try:
        if kind == "probe":
            stream = k % 2 == 1
            st, payload = http(port, "/v1/completions", probe_body(k, stream))
            rec["stream"] = stream
            rec["status"] = st
            rec["id"], rec["text"] = probe_text(st, payload, stream)
            rec["own"] = st == 200 and rec["text"].startswith(probe_body(k, stream)["prompt"])
        elif kind == "cut_stream":
            rec["status"] = cut(port, dict(long_req, stream=True), 0, 2)
        elif kind == "cut_wait":
            rec["status"] = cut(port, long_req, 0.05, 0)
        elif kind == "bad_json":
            rec["status"] = http(port, "/v1/completions", b"{\"prompt\": \"a\",,}")[0]
        elif kind == "bad_type":
            rec["status"] = http(port, "/v1/chat/completions", {"messages": 5})[0]
        elif kind == "over_ctx":
            rec["status"] = http(port, "/v1/completions", {"prompt": "a", "max_tokens": 10**6})[0]
        elif kind == "oversize":
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: soak\r\nContent-Length: "
                      b"9000000\r\nContent-Type: application/json\r\n\r\n")
            head = s.recv(4096)
            s.close()
            rec["status"] = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    except (OSError, ValueError) as e:
        rec["status"] = -1
        rec["error"] = str(e)
    return rec


def chaos(port, seconds, path):
    end = time.time() + seconds
    k = 0
    with open(path, "w") as f:
        while time.time() < end:
            rec = one(port, KINDS[k % len(KINDS)], k)
            f.write(json.dumps(rec) + "\n")
            f.flush()
            k += 1
            time.sleep(0.15)


def replay(port, path, n):
    probes = [json.loads(l) for l in open(path)]
    probes = [p for p in probes if p["kind"] == "probe" and p.get("status") == 200]
    ids = [p["id"] for p in probes]
    random.Random(1).shuffle(probes)
    bad = []
    for p in probes[:n]:
        st, payload = http(port, "/v1/completions", probe_body(p["k"], p["stream"]))
        _, text = probe_text(st, payload, p["stream"])
        if text != p["text"]:
            bad.append({"k": p["k"], "under_load": p["text"], "alone": text})
    foreign = [p["k"] for p in probes if not p.get("own")]
    print(json.dumps({"probes": len(ids), "foreign_output": foreign,
                      "ids_unique": len(set(ids)) == len(ids), "replayed": min(n, len(probes)),
                      "replay_identical": min(n, len(probes)) - len(bad), "replay_diverged": bad}))


def common(a, b):
    i = 0
    while i < min(len(a or ""), len(b or "")) and a[i] == b[i]:
        i += 1
    return i


def prom(path):
    out = {}
    for line in open(path):
        if line.startswith("moecap_requests_total{"):
            key, val = line.split()
            out[key.split('"')[1]] = int(float(val))
    return out


def bench_row(path):
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        return None
    r, lat = d["requests"], d["latency"]
    return {"sent": r["sent"], "completed": r["completed"], "failed": r["failed"],
            "cancelled": r.get("cancelled", 0),
            "e2e_p99_s": lat["latency.e2e"].get("p99"),
            "ttft_p99_s": lat["latency.ttft"].get("p99")}


def rss_by_minute(path, t0):
    """{minute: [(rss kB, load average)]} from the sampler's lines 'time rss [load]'."""
    mins = {}
    for line in open(path):
        f = line.split()
        if len(f) < 2 or not f[1].isdigit():
            continue
        load = float(f[2]) if len(f) > 2 else float("nan")
        mins.setdefault(int((float(f[0]) - t0) // 60), []).append((int(f[1]), load))
    return mins


def report(d):
    meta = json.load(open(os.path.join(d, "meta.json")))
    minutes = meta["minutes"]
    rss = rss_by_minute(os.path.join(d, "rss.txt"), meta["t0"])
    rows, sent_bench, sent_ok = [], 0, True
    for m in range(minutes):
        row = {"minute": m + 1}
        for name in ("stream", "nostream"):
            b = bench_row(os.path.join(d, "min-%d" % (m + 1), name + ".json"))
            row[name] = b
            if b:
                sent_bench += b["sent"]
                sent_ok &= b["completed"] + b["failed"] == b["sent"]
        r = [x[0] for x in rss.get(m, [])]
        row["rss_mean_kb"] = int(statistics.mean(r)) if r else None
        row["rss_max_kb"] = max(r) if r else None
        row["load"] = round(statistics.mean(x[1] for x in rss[m]), 2) if r else None
        rows.append(row)
    chaos_recs = [json.loads(l) for l in open(os.path.join(d, "chaos.jsonl"))]
    kinds = {}
    for c in chaos_recs:
        kk = kinds.setdefault(c["kind"], {})
        kk[str(c["status"])] = kk.get(str(c["status"]), 0) + 1
    before = prom(os.path.join(d, "metrics-before.prom"))
    after = prom(os.path.join(d, "metrics-after.prom"))
    outcomes = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    server_total = sum(outcomes.values())
    sent_total = sent_bench + len(chaos_recs)
    rep = json.load(open(os.path.join(d, "replay.json")))

    warm = max(1, minutes // 5)
    post = [r for r in rows[warm:] if r["rss_mean_kb"]]
    checks = {}
    if post:
        ref = post[0]["rss_mean_kb"]
        worst = max(r["rss_mean_kb"] for r in post)
        checks["rss_flat"] = {"ok": worst <= 1.05 * ref and abs(post[-1]["rss_mean_kb"] / ref - 1)
                              <= 0.05, "ref_kb": ref, "max_kb": worst,
                              "last_kb": post[-1]["rss_mean_kb"], "limit": "within 5%"}
    p99 = [r["stream"]["e2e_p99_s"] for r in rows[warm:] if r["stream"]]
    if len(p99) >= 3:
        third = max(1, len(p99) // 3)
        first, last = statistics.median(p99[:third]), statistics.median(p99[-third:])
        checks["p99_no_drift"] = {"ok": last <= 1.25 * first, "first_third_s": first,
                                  "last_third_s": last, "limit": "last <= 1.25 x first"}
    checks["bench_accounted"] = {"ok": bool(sent_ok), "rule": "completed + failed = sent, "
                                 "every bench run"}
    checks["server_accounted"] = {"ok": server_total == sent_total, "server": server_total,
                                  "sent": sent_total, "bench_sent": sent_bench,
                                  "chaos_sent": len(chaos_recs), "outcomes": outcomes}
    checks["own_output"] = {"ok": not rep["foreign_output"] and rep["ids_unique"] and
                            rep["probes"] > 0, "probes": rep["probes"],
                            "foreign_output": rep["foreign_output"], "ids_unique": rep["ids_unique"]}
    checks["replay"] = {"ok": True, "informational": "identical alone as under load only as far "
                        "as the kernels are batch-invariant", "replayed": rep["replayed"],
                        "identical": rep["replay_identical"],
                        "diverged_at_char": [common(m["under_load"], m["alone"])
                                             for m in rep["replay_diverged"]]}
    checks["server_exit"] = {"ok": meta.get("server_exit") == 0, "exit": meta.get("server_exit")}
    out = {"meta": meta, "minutes": rows, "chaos": kinds, "checks": checks,
           "ok": all(c["ok"] for c in checks.values())}
    json.dump(out, open(os.path.join(d, "soak.json"), "w"), indent=1)
    print("min  rss_mean_MB  rss_max_MB  stream(sent/fail, e2e p99 ms)  nostream(sent/fail, "
          "e2e p99 ms)  load")
    for r in rows:
        s, n = r["stream"] or {}, r["nostream"] or {}
        print("%3d  %11.1f  %10.1f  %6s/%-4s %8.1f            %6s/%-4s %8.1f          %5s" % (
            r["minute"], (r["rss_mean_kb"] or 0) / 1024, (r["rss_max_kb"] or 0) / 1024,
            s.get("sent"), s.get("failed"), 1000 * (s.get("e2e_p99_s") or 0),
            n.get("sent"), n.get("failed"), 1000 * (n.get("e2e_p99_s") or 0), r["load"]))
    print("chaos:", json.dumps(kinds))
    for k, c in checks.items():
        print("%-17s %s  %s" % (k, "ok  " if c["ok"] else "FAIL",
                                json.dumps({x: y for x, y in c.items() if x != "ok"})[:300]))
    return 0 if out["ok"] else 1


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "chaos":
        chaos(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    elif cmd == "replay":
        replay(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif cmd == "report":
        sys.exit(report(sys.argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
