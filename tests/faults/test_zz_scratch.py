import json
def test_dump(shared_crawls, night, fault_log):
    out = {"rc": night.returncode, "elapsed": night.elapsed, "stdout": night.stdout[-3000:], "maxrss": night.maxrss_mb,
           "fetch": [r for r in night.records if r.get("type") == "fetch"],
           "cands": {}}
    for r in night.records:
        if r.get("type") == "candidate":
            out["cands"].setdefault(r["source"], []).append((r["title"], r["url"], r.get("canonical_url")))
    out["log"] = [(l["port"], l["path"], l["query"][:80], round(l["t"], 2)) for l in fault_log]
    p = shared_crawls.polite.result(); d = shared_crawls.drop.result()
    out["polite"] = {"rc": p.returncode, "fetch": [r for r in p.records if r.get("type") == "fetch"], "elapsed": p.elapsed}
    out["drop"] = {"rc": d.returncode, "fetch": [r for r in d.records if r.get("type") == "fetch"], "elapsed": d.elapsed}
    open("/tmp/night.json", "w").write(json.dumps(out, indent=1))
    open("/tmp/night.err", "w").write(night.stderr + "\n=====POLITE\n" + p.stderr + "\n=====DROP\n" + d.stderr)
