#!/usr/bin/env python3
"""Writes the fixtures of `make demo` (spec/demo/run.sh); run again only to change them.

  python3 spec/demo/make_fixtures.py build/dhis2-emulator

A national HMIS and a district HMIS that do not share ids, as in real life: the emulator's
generated country (seed 1) is the national server, empty of data; one of its districts,
re-rooted and with every id changed (codes kept), is the district server, with that
district's values. The district records birth weight in kilograms, the national server in
grams, and the national server does not collect supervisor remarks. The mapping
mappings/demo_district_to_national.lua and its CSV crosswalks (made here from the codes)
take the district's values to the national ids.
"""
import hashlib, json, os, signal, socket, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "spec", "demo")
MAPPINGS = os.path.join(ROOT, "mappings")
ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = ALPHA + "0123456789"


def district_uid(national_uid):
    """A DHIS2-shaped uid of the district's own, stable for a national uid."""
    h = hashlib.sha256(("district:" + national_uid).encode()).digest()
    return ALPHA[h[0] % 52] + "".join(ALNUM[b % 62] for b in h[1:11])


def generated_country(emulator):
    with tempfile.TemporaryDirectory() as d:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
        sock.close()
        p = subprocess.Popen([emulator, "--port", port, "--generate", "values=3000,orgunits=30,seed=1",
                              "--data", d, "--save"], stderr=subprocess.PIPE)
        while not p.stderr.readline().startswith(b"listening"):
            pass
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        with open(os.path.join(d, "metadata.json")) as f, open(os.path.join(d, "dataValues.json")) as g:
            return json.load(f), json.load(g)["dataValues"]


def main():
    national, values = generated_country(sys.argv[1])
    ous = national["organisationUnits"]
    district = next(o for o in ous if o["level"] == 3)
    subtree = [o for o in ous if ("/" + district["id"] + "/") in (o["path"] + "/")]
    keep = {o["id"] for o in subtree}
    dropped = {de["id"] for de in national["dataElements"] if de["code"] == "DE_REMARKS"}

    # national: the country as generated, without the data element it does not collect
    nat = dict(national)
    nat["dataElements"] = [de for de in national["dataElements"] if de["id"] not in dropped]
    nat["dataSets"] = [dict(ds, dataSetElements=[e for e in ds["dataSetElements"] if e["dataElement"]["id"] not in dropped])
                       for ds in national["dataSets"]]
    nat["dataElementGroups"] = [dict(g, dataElements=[e for e in g["dataElements"] if e["id"] not in dropped])
                                for g in national.get("dataElementGroups", [])]

    # district: every id renamed; its org units re-rooted at the district (level 1)
    ids = {}
    def walk(v):
        if isinstance(v, dict):
            return {k: (ids.setdefault(x, district_uid(x)) if k == "id" and isinstance(x, str) else walk(x))
                    for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v
    dist = {k: walk(v) for k, v in national.items() if k != "organisationUnits"}
    dist_ous = []
    for original in subtree:
        below = original["path"].split("/" + district["id"], 1)[1]  # "" or "/facility..."
        o = walk(original)
        o["path"] = "/" + ids[district["id"]] + "".join("/" + ids[p] for p in below.split("/") if p)
        o["level"] = o["path"].count("/")
        if original["id"] == district["id"]:
            o.pop("parent", None)
        dist_ous.append(o)
    dist["organisationUnits"] = dist_ous
    weight = {de["id"] for de in national["dataElements"] if de["code"] == "DE_WEIGHT"}
    dist_values = []
    for v in values:
        if v["orgUnit"] not in keep or v.get("deleted"):
            continue
        v = {k: v[k] for k in ("dataElement", "period", "orgUnit", "categoryOptionCombo",
                                "attributeOptionCombo", "value", "lastUpdated") if k in v}
        if v["dataElement"] in weight:
            v["value"] = "%.3f" % (float(v["value"]) / 1000)   # kilograms at the district
        for k in ("dataElement", "orgUnit", "categoryOptionCombo", "attributeOptionCombo"):
            v[k] = ids[v[k]]
        dist_values.append(v)

    for name, meta in (("national", nat), ("district", dist)):
        os.makedirs(os.path.join(DEMO, name), exist_ok=True)
        with open(os.path.join(DEMO, name, "metadata.json"), "w") as f:
            json.dump(meta, f, indent=1)
    with open(os.path.join(DEMO, "district", "dataValues.json"), "w") as f:
        f.write('{"dataValues":[\n' + ",\n".join(json.dumps(v, separators=(",", ":")) for v in dist_values) + "\n]}\n")

    def crosswalk(fname, header, pairs):
        with open(os.path.join(MAPPINGS, fname), "w") as f:
            f.write(header + "\n")
            for a, b in sorted(pairs):
                f.write("%s,%s\n" % (a, b))
    crosswalk("demo_district_dataelements.csv", "district,national",
              [(ids[de["id"]], de["id"]) for de in nat["dataElements"]])
    crosswalk("demo_district_orgunits.csv", "district,national", [(ids[o["id"]], o["id"]) for o in subtree])
    crosswalk("demo_district_cocs.csv", "district,national",
              [(ids[c["id"]], c["id"]) for c in national["categoryOptionCombos"]])
    print("district: %d org units, %d values; national: %d org units" % (len(dist_ous), len(dist_values), len(ous)))


if __name__ == "__main__":
    main()
