"""Documentation stays true: every config key is explained in config/README.md."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _keys(schema, prefix=""):
    for name, sub in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        if sub.get("type") == "object" and sub.get("properties"):
            yield from _keys(sub, key + ".")  # a block: its leaves are documented
        else:
            yield key


def test_config_readme_mentions_every_schema_key():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    readme = (ROOT / "config/README.md").read_text()
    generic = {"selection", "exclude_flags"}  # documented once as `<step>.selection` / `<step>.exclude_flags`
    missing = [
        key for key in _keys(schema)
        if f"`{key}`" not in readme and key.split(".")[-1] not in generic
    ]
    assert not missing, f"config/README.md does not document: {missing}"


def test_every_schema_key_has_description_and_default():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())

    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            here = f"{path}{name}"
            if "$ref" not in sub:
                assert "description" in sub, f"{here}: no description"
            assert "default" in sub or "$ref" in sub and name == "exclude_flags", f"{here}: no default"
            if sub.get("type") == "object":
                assert sub.get("additionalProperties") is not None, f"{here}: unknown keys not refused"
                walk(sub, here + ".")

    walk(schema, "")


def test_readme_quickstart_has_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2
    assert commands[0].endswith("snakemake --cores 2") and commands[1].endswith("pytest")
