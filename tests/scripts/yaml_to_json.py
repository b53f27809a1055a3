"""Prints the YAML file named on the command line as JSON, read by PyYAML's
safe loader, as GitHub reads a workflow (its `on:` key comes out as
`true`: YAML 1.1)."""

import json
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as f:
    json.dump(yaml.safe_load(f), sys.stdout, default=str)
