#!/usr/bin/env python3
"""reference_sync.py - the sync an implementer writes by hand, as the yardstick of `make bench`.

Copies the aggregate data values of some data sets under one org unit from a source DHIS2 to a
target DHIS2 with the Python standard library only: for each district under the root and each
year of the window it GETs /api/dataValueSets as JSON, maps every value with dict lookups (and
a transform, when the mapping file names one), and POSTs them in batches.

  reference_sync.py SOURCE_URL TARGET_URL --auth USER:PASSWORD --root OU
                    --data-set ID [--data-set ID ...] --start YYYY-MM-DD --end YYYY-MM-DD
                    [--mapping FILE.json] [--batch 5000]

The mapping file holds source id -> target id tables ("dataElements", "categoryOptionCombos",
"orgUnits"); a value whose id is missing from a table is skipped. "gramsFromKilograms" lists
the data elements whose values are converted from kg to g. Prints the counts as JSON; exit 1
when the target refused a batch.
"""
import argparse
import base64
import json
import sys
import urllib.parse
import urllib.request


class Dhis2:
    def __init__(self, url, auth):
        self.url = url.rstrip("/")
        token = base64.b64encode(auth.encode()).decode()
        self.headers = {"Authorization": "Basic " + token, "Accept": "application/json"}

    def get(self, path, params):
        query = urllib.parse.urlencode(params, doseq=True)
        req = urllib.request.Request(self.url + path + "?" + query, headers=self.headers)
        with urllib.request.urlopen(req) as resp:
            return json.load(resp)

    def post(self, path, body):
        data = json.dumps(body).encode()
        headers = dict(self.headers, **{"Content-Type": "application/json"})
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req) as resp:
            return json.load(resp)


def districts(source, root):
    """The org units two levels below the root: a chunk small enough to hold in memory."""
    units = source.get("/api/organisationUnits",
                       {"fields": "id,level,path", "paging": "false"})["organisationUnits"]
    level = next(u["level"] for u in units if u["id"] == root)
    return [u["id"] for u in units if u["level"] == level + 2 and root in u["path"]] or [root]


def mapper(mapping):
    """A function that maps one data value, or returns None to skip it."""
    tables = [(key, mapping[table]) for key, table in
              (("dataElement", "dataElements"), ("categoryOptionCombo", "categoryOptionCombos"),
               ("orgUnit", "orgUnits")) if table in mapping]
    kilograms = set(mapping.get("gramsFromKilograms", []))

    def apply(dv):
        for key, table in tables:
            target_id = table.get(dv[key])
            if target_id is None:
                return None
            dv[key] = target_id
        if dv["dataElement"] in kilograms:
            dv["value"] = str(round(float(dv["value"]) * 1000))
        return dv

    return apply


def main():
    p = argparse.ArgumentParser()
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--auth", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--data-set", action="append", required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p.add_argument("--mapping")
    p.add_argument("--batch", type=int, default=5000)
    args = p.parse_args()

    source, target = Dhis2(args.source, args.auth), Dhis2(args.target, args.auth)
    apply = None
    if args.mapping:
        with open(args.mapping) as f:
            apply = mapper(json.load(f))
    counts = {"fetched": 0, "skipped": 0, "sent": 0, "imported": 0, "updated": 0, "ignored": 0}
    failed = False
    batch = []

    def send():
        nonlocal failed, batch
        summary = target.post("/api/dataValueSets", {"dataValues": batch})
        summary = summary.get("response", summary)  # 2.38+ wraps the ImportSummary
        for key in ("imported", "updated", "ignored"):
            counts[key] += summary.get("importCount", {}).get(key, 0)
        failed = failed or summary.get("status") == "ERROR"
        counts["sent"] += len(batch)
        batch = []

    first_year, last_year = int(args.start[:4]), int(args.end[:4])
    for ou in districts(source, args.root):
        for year in range(first_year, last_year + 1):
            start = max(args.start, "%04d-01-01" % year)
            end = min(args.end, "%04d-12-31" % year)
            answer = source.get("/api/dataValueSets", {
                "dataSet": args.data_set, "orgUnit": ou, "children": "true",
                "startDate": start, "endDate": end})
            for dv in answer.get("dataValues", []):
                counts["fetched"] += 1
                dv = {k: v for k, v in dv.items()
                      if k not in ("created", "lastUpdated") and v is not None}
                if apply:
                    dv = apply(dv)
                    if dv is None:
                        counts["skipped"] += 1
                        continue
                batch.append(dv)
                if len(batch) >= args.batch:
                    send()
    if batch:
        send()
    print(json.dumps(counts))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
