#!/usr/bin/python3
# schema-check.py SCHEMA FILE...: validates each YAML manifest against the
# JSON Schema with python3-jsonschema (an implementation rdc shares nothing
# with); prints "ok FILE" or "bad FILE: why" per file, exits 1 if any is bad.
import sys

import jsonschema
import yaml

schema = yaml.safe_load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
status = 0
for path in sys.argv[2:]:
    with open(path) as f:
        doc = yaml.safe_load(f)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        status = 1
        e = errors[0]
        print("bad %s: %s at %s" % (path, e.message, "/".join(str(p) for p in e.path)))
    else:
        print("ok " + path)
sys.exit(status)
