"""Reads `terraform show -json <plan>` on stdin; fails when the plan changes anything but what
moto cannot store (it keeps no EventBridge flag on bucket notifications)."""

import json
import sys

MOTO_CANNOT_STORE = {("aws_s3_bucket_notification", "eventbridge")}

plan = json.load(sys.stdin)
problems = []
for change in plan.get("resource_changes", []):
    actions = change["change"]["actions"]
    if actions == ["no-op"] or actions == ["read"]:
        continue
    before, after = change["change"].get("before") or {}, change["change"].get("after") or {}
    changed = {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
    tolerated = {attr for (kind, attr) in MOTO_CANNOT_STORE if kind == change["type"]}
    if actions != ["update"] or not changed <= tolerated:
        problems.append(f"{change['address']}: {actions} {sorted(changed)}")
if problems:
    print("the second plan is not empty:\n  " + "\n  ".join(problems))
    sys.exit(1)
print("plan after apply: no changes")
