#!/usr/bin/env python3
"""Counts test functions whose names say they feed bad input, per input surface: a name heuristic
(for the hardening issue's per-surface count). Usage: scripts/bad-input-tests.py [ROOT]."""
import os, re, sys, collections
ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
KEY = re.compile(r"(refus|reject|malformed|invalid|unknown|wrong|missing|oversiz|too_(large|long|big|many)|bad_|_bad|garbage|truncat|not_a_|out_of_range|forbidden|unauthori[sz]ed|spoof|abuse|_400|_401|_403|_404|_405|_409|_412|_413|_415|_422|_501|poison|overflow|crash_input|duplicate|conflict|empty_body|nonsense|illegal|trickl|endless|shed|beyond_the_cap|over_the_limit|not_answered|off_loopback)")
TEST = re.compile(r"#\[(?:tokio::)?test[^\]]*\]\s*(?:#\[[^\]]*\]\s*)*(?:async\s+)?fn\s+(\w+)", re.S)
PROP = re.compile(r"proptest!\s*\{(.*?)\n\}", re.S)
def surface(path):
    p = path
    rules = [("fuzz-targets", "fuzz smoke"), ("serve_control", "control API"),
             ("guard", "listener guard (every server's limits)"), ("simulator/src/ironic", "mock Ironic"), ("simulator/tests/ironic", "mock Ironic"),
             ("ipmi", "IPMI"), ("redfish", "Redfish"), ("agent", "agent"), ("fleet", "fleet files"),
             ("controlplane", "control plane"), ("admission", "admission"), ("guard", "listener guard"),
             ("tls", "TLS/secrets"), ("secret", "TLS/secrets"), ("statemachine", "operator state machine"),
             ("scenario", "scenario files/engine"), ("wire", "scenario files/engine"), ("operator/", "operator (controller, API)"),
             ("core/", "operator cores"), ("tests/", "e2e")]
    for k, v in rules:
        if k in p:
            return v
    return "other"
counts = collections.Counter()
for dirpath, dirs, files in os.walk(ROOT):
    dirs[:] = [d for d in dirs if d not in ("target", ".git", "node_modules")]
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(dirpath, f)
        text = open(path, encoding="utf-8", errors="replace").read()
        names = TEST.findall(text)
        for block in PROP.findall(text):
            names += re.findall(r"fn\s+(\w+)\s*\(", block)
        for n in names:
            if KEY.search(n):
                counts[surface(os.path.relpath(path, ROOT))] += 1
for k, v in counts.most_common():
    print(f"{v:5d}  {k}")
print(f"{sum(counts.values()):5d}  total")
