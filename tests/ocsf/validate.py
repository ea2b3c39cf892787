"""Validates OCSF events (NDJSON on stdin) against the OCSF schema of the version each event
names, offline: the `ocsf-json-schema` package carries the OCSF project's schema exports and
builds the JSON Schema of each class from them; `jsonschema` validates. Prints one JSON object:
{"events": N, "classes": {...}, "invalid": [{"line", "class_uid", "errors": [...]}]}; exit 1 if
any event is invalid."""

import json
import sys

import jsonschema
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

schemas = {}
validators = {}


def validator(version, class_uid, profiles):
    """The class's schema with the profiles the event declares (OCSF: `metadata.profiles`)."""
    key = (version, class_uid, tuple(sorted(profiles)))
    if key not in validators:
        if version not in schemas:
            schemas[version] = OcsfJsonSchemaEmbedded(get_ocsf_schema(version))
        schema = schemas[version]
        name = schema.lookup_class_name_from_uid(class_uid)
        class_schema = schema.get_class_schema(name, sorted(profiles))
        jsonschema.Draft202012Validator.check_schema(class_schema)
        validators[key] = (name, jsonschema.Draft202012Validator(class_schema))
    return validators[key]


def main():
    count = 0
    classes = {}
    invalid = []
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        event = json.loads(line)
        count += 1
        version = event["metadata"]["version"]
        name, check = validator(version, event["class_uid"], event["metadata"].get("profiles", []))
        classes[name] = classes.get(name, 0) + 1
        errors = sorted(check.iter_errors(event), key=lambda e: list(e.path))
        if errors:
            invalid.append({
                "line": number,
                "event_code": event["metadata"].get("event_code"),
                "class_uid": event["class_uid"],
                "errors": [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10]],
            })
    print(json.dumps({"events": count, "classes": classes, "invalid": invalid}))
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
