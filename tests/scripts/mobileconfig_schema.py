#!/usr/bin/env python3
"""Checks a configuration profile against Apple's own payload schemas
(apple/device-management, mdm/profiles/*.yaml, copied under
tests/fixtures/device-management/): every key known to its payload's
schema, of the schema's type, within its range list, present when required
and supported on macOS. The profile is read by Python's plistlib, a reader
installer-tool does not share.

usage: mobileconfig_schema.py SCHEMA_DIR PROFILE
Prints one line per violation and exits 1 if there is any.
"""

import datetime
import plistlib
import sys
from pathlib import Path

import yaml

TYPES = {
    "<string>": (str,),
    "<integer>": (int,),
    "<boolean>": (bool,),
    "<array>": (list,),
    "<dictionary>": (dict,),
    "<data>": (bytes,),
    "<date>": (datetime.datetime,),
    "<real>": (float, int),
}

# Keys the schemas lack but Apple's frameworks read, each with its source.
EXTRA_KEYS = {
    # NEVPNProtocol.serverAddress: absent from the schema of the VPN
    # dictionary, present in every published profile (wireguard-apple's
    # MOBILECONFIG.md: "RemoteAddress (string): A non-empty string").
    ("com.apple.vpn.managed", "VPN", "RemoteAddress"): "<string>",
}
# Dictionaries whose keys belong to the vendor: the schema's VendorConfig
# "vendor-specific configuration" becomes the provider's
# providerConfiguration as it is.
VENDOR_DICTIONARIES = {("com.apple.vpn.managed", "VendorConfig")}


class Checker:
    def __init__(self, payload_type):
        self.payload_type = payload_type
        self.violations = []

    def fail(self, path, message):
        self.violations.append(f"{self.payload_type}: {'.'.join(path)}: {message}")

    def check_dict(self, value, keys, path):
        named = {k["key"]: k for k in keys if k["key"] != "ANY"}
        any_key = next((k for k in keys if k["key"] == "ANY"), None)
        for key in named.values():
            if key.get("presence") == "required" and key["key"] not in value:
                self.fail(path, f"required key {key['key']} is missing")
        for name, item in value.items():
            here = path + [name]
            schema = named.get(name) or any_key
            extra = EXTRA_KEYS.get((self.payload_type, *here))
            if schema is None and extra is not None:
                schema = {"key": name, "type": extra}
            if schema is None:
                self.fail(here, "is not a key of this payload's schema")
                continue
            self.check_value(item, schema, here)

    def check_value(self, value, schema, path):
        kind = schema.get("type")
        if kind != "<any>" and kind in TYPES:
            wanted = TYPES[kind]
            # plistlib reads <true/> as bool, a subclass of int.
            if isinstance(value, bool) and bool not in wanted:
                self.fail(path, f"is a boolean, the schema says {kind}")
                return
            if not isinstance(value, wanted):
                self.fail(path, f"is {type(value).__name__}, the schema says {kind}")
                return
        macos = (schema.get("supportedOS") or {}).get("macOS") or {}
        if macos.get("introduced") == "n/a":
            self.fail(path, "is not supported on macOS")
        ranges = schema.get("rangelist")
        if ranges is not None and value not in ranges:
            self.fail(path, f"{value!r} is not one of {ranges}")
        subkeys = schema.get("subkeys") or []
        if (self.payload_type, *path) in VENDOR_DICTIONARIES:
            return
        if kind == "<dictionary>" and subkeys:
            self.check_dict(value, subkeys, path)
        elif kind == "<array>" and subkeys:
            for index, item in enumerate(value):
                self.check_value(item, subkeys[0], path + [f"[{index}]"])


def load(schema_dir, name):
    with open(schema_dir / f"{name}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def main():
    schema_dir, profile_path = Path(sys.argv[1]), Path(sys.argv[2])
    with open(profile_path, "rb") as f:
        profile = plistlib.load(f)
    violations = []

    top = Checker("TopLevel")
    top.check_dict(profile, load(schema_dir, "TopLevel")["payloadkeys"], [])
    violations += top.violations

    common = load(schema_dir, "CommonPayloadKeys")["payloadkeys"]
    for payload in profile.get("PayloadContent", []):
        payload_type = payload.get("PayloadType", "?")
        path = schema_dir / f"{payload_type}.yaml"
        if not path.exists():
            violations.append(f"{payload_type}: no schema for this payload type")
            continue
        schema = load(schema_dir, payload_type)
        checker = Checker(payload_type)
        if schema["payload"]["supportedOS"]["macOS"].get("introduced") == "n/a":
            checker.fail([], "the payload is not supported on macOS")
        checker.check_dict(payload, common + schema["payloadkeys"], [])
        violations += checker.violations

    for line in violations:
        print(line)
    if violations:
        return 1
    print(f"ok: {len(profile.get('PayloadContent', []))} payloads match Apple's schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
