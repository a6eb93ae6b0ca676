#!/usr/bin/env python3
"""Summarises an Autobahn|Testsuite fuzzingserver report (index.json) for one agent.

usage: summarize.py REPORT_DIR/index.json [AGENT]

Prints a table of OK / NON-STRICT / INFORMATIONAL / UNIMPLEMENTED / FAILED per case group
(1-13), the cases that are not OK with the server's reason, and the durations of the
performance cases (9.*). A case counts as FAILED when its behaviour or its closing behaviour
is FAILED, as the suite's own HTML report shows it. Exit status 1 when a case FAILED (or the
report has no case for the agent), 0 otherwise.
"""
import json
import os
import sys

VERDICTS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
GROUP_NAMES = {
    1: "Framing",
    2: "Pings/Pongs",
    3: "Reserved Bits",
    4: "Opcodes",
    5: "Fragmentation",
    6: "UTF-8 Handling",
    7: "Close Handling",
    8: "Misc",
    9: "Limits/Performance",
    10: "Auto-Fragmentation",
    11: "Opening Handshake",
    12: "WebSocket Compression (different payloads)",
    13: "WebSocket Compression (different parameters)",
}


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def verdict(result):
    behavior = result.get("behavior", "?")
    close = result.get("behaviorClose", "?")
    if "FAILED" in (behavior, close):
        return "FAILED"
    if behavior == "OK" and close in ("OK", "INFORMATIONAL"):
        return "OK"
    return behavior if behavior in VERDICTS else close


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    path = sys.argv[1]
    with open(path) as report:
        index = json.load(report)
    agent = sys.argv[2] if len(sys.argv) == 3 else next(iter(index), None)
    results = index.get(agent) or {}
    if not results:
        print("no results for agent %r in %s" % (agent, path))
        return 1
    report_dir = os.path.dirname(path)

    groups = {}
    for case_id, result in results.items():
        group = case_key(case_id)[0]
        counts = groups.setdefault(group, dict.fromkeys(VERDICTS, 0))
        counts[verdict(result)] = counts.get(verdict(result), 0) + 1

    header = "| group | " + " | ".join(VERDICTS) + " | total |"
    print("Autobahn|Testsuite results for agent %s (%s)" % (agent, path))
    print()
    print(header)
    print("|" + "---|" * (len(VERDICTS) + 2))
    totals = dict.fromkeys(VERDICTS, 0)
    for group in sorted(groups):
        counts = groups[group]
        for name in VERDICTS:
            totals[name] += counts.get(name, 0)
        label = "%d %s" % (group, GROUP_NAMES.get(group, ""))
        print("| %s | %s | %d |" % (label.strip(), " | ".join(str(counts.get(name, 0)) for name in VERDICTS),
                                    sum(counts.values())))
    print("| **all** | %s | %d |" % (" | ".join(str(totals[name]) for name in VERDICTS), sum(totals.values())))
    print()

    not_ok = [(case_id, result) for case_id, result in results.items() if verdict(result) != "OK"]
    if not_ok:
        print("Cases that are not OK:")
        for case_id, result in sorted(not_ok, key=lambda item: case_key(item[0])):
            reason = ""
            report_file = result.get("reportfile")
            if report_file and os.path.exists(os.path.join(report_dir, report_file)):
                with open(os.path.join(report_dir, report_file)) as case_report:
                    detail = json.load(case_report)
                reason = "%s / close: %s" % (detail.get("result", ""), detail.get("resultClose", ""))
            print("  %-8s %-13s (behavior %s, close %s) %s" % (case_id, verdict(result), result.get("behavior"),
                                                               result.get("behaviorClose"), reason))
        print()

    performance = sorted(((case_id, result) for case_id, result in results.items() if case_id.startswith("9.")),
                         key=lambda item: case_key(item[0]))
    if performance:
        print("Performance cases (9.*), duration in ms:")
        line = []
        for case_id, result in performance:
            line.append("%s %s" % (case_id, result.get("duration", "?")))
            if len(line) == 6:
                print("  " + ", ".join(line))
                line = []
        if line:
            print("  " + ", ".join(line))
        print()

    failed = totals["FAILED"]
    print("%d cases: %s" % (sum(totals.values()), ", ".join("%d %s" % (totals[name], name) for name in VERDICTS)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
