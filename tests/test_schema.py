"""The JSON Schema is made from the same description as the validator: it must accept every
valid Unit Config and reject every structural error the validator rejects."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from aos_multinode.unitconfig import scalars, spec
from aos_multinode.errors import UnitConfigError
from aos_multinode.unitconfig.load import load_unit_config

from conftest import EXAMPLES, INVALID_DIR, VALID_DIR, VALID_VARIANTS, run_cli
from test_invalid_configs import FIELDS, PAYLOADS, inject, read_expectation

STRUCTURAL = [path for path in sorted(INVALID_DIR.glob("*.yaml"))
              if read_expectation(path).schema_rejects]


@pytest.fixture(scope="module")
def schema() -> dict:
    result = run_cli("schema")
    assert result.exit_code == 0
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def validator(schema) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_schema_command_prints_the_spec_schema(schema):
    assert schema == spec.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_is_valid_draft_2020_12(schema):
    Draft202012Validator.check_schema(schema)


def test_check_schema_would_catch_a_broken_schema(schema):
    broken = json.loads(json.dumps(schema))
    broken["properties"]["device_id"]["type"] = "text"
    with pytest.raises(SchemaError):
        Draft202012Validator.check_schema(broken)


def test_every_contract_key_is_described(schema):
    props = schema["properties"]
    assert set(schema["required"]) == {"device_id", "network", "roles", "nodes"}
    assert set(props) == {"format_version", "device_id", "release", "cluster", "yocto", "aos",
                          "network", "time_sync", "roles", "nodes", "rebalance", "build"}
    assert set(props["build"]["properties"]["ci"]["properties"]) == {"github_runs_on",
                                                                     "gitlab_tags"}
    node = props["nodes"]["items"]
    assert set(node["properties"]) == {"index", "id", "hostname", "address", "addresses",
                                       "role", "machine", "storage", "local_conf", "repos",
                                       "wks_file"}
    assert all("description" in entry for entry in props.values())


@pytest.mark.parametrize("path", EXAMPLES + VALID_VARIANTS, ids=lambda p: p.stem)
def test_schema_accepts_valid_configs(path, validator):
    load_unit_config(path)  # the validator accepts it too
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    assert errors == [], [e.message for e in errors]


def test_structural_corpus_is_large():
    assert len(STRUCTURAL) >= 40


@pytest.mark.parametrize("path", STRUCTURAL, ids=lambda p: p.stem)
def test_schema_rejects_structural_errors(path, validator):
    with pytest.raises(UnitConfigError) as info:
        load_unit_config(path)
    assert info.value.findings
    assert list(validator.iter_errors(yaml.safe_load(path.read_text()))), \
        f"the schema accepts {path.name}, which the validator rejects"


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("field_path", FIELDS)
def test_schema_rejects_injection(field_path, payload, validator):
    assert list(validator.iter_errors(yaml.safe_load(inject(field_path, PAYLOADS[payload]))))


def test_schema_defaults_match_the_model(schema):
    """Defaults the schema shows an editor are the ones the loader applies."""
    config = load_unit_config(VALID_DIR / "minimal.yaml").config
    props = schema["properties"]
    assert props["cluster"]["properties"]["discovery"]["default"] == config.discovery
    assert props["yocto"]["properties"]["release"]["default"] == config.yocto_release
    assert props["yocto"]["properties"]["machine"]["default"] == config.default_machine
    assert props["aos"]["properties"]["enabled"]["default"] is config.aos.enabled
    assert props["aos"]["properties"]["unit_version"]["default"] == config.aos.unit_version
    assert props["time_sync"]["properties"]["protocol"]["default"] == config.time_protocol
    node = props["nodes"]["items"]["properties"]
    assert node["storage"]["default"] == config.nodes[0].storage
    policy = props["rebalance"]["properties"]["policy"]["properties"]
    for kind in ("cpu", "ram"):
        threshold = getattr(config.rebalance, kind)
        defaults = {k: v["default"] for k, v in policy[kind]["properties"].items()}
        assert defaults == {"max_threshold": threshold.max_threshold,
                            "min_threshold": threshold.min_threshold,
                            "min_timeout": threshold.min_timeout}


# The address patterns in the schema must agree with Python's ipaddress, which the
# validator uses: every form of a real address matches, text that is no address does not.
def _address_forms(address) -> list[str]:
    forms = [str(address), address.exploded, str(address).upper()]
    if address.version == 6 and address.ipv4_mapped:
        forms.append(f"::ffff:{address.ipv4_mapped}")
    return forms


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_address_patterns_accept_every_form_of_an_address(address):
    pattern = scalars.IPV4_PATTERN if address.version == 4 else scalars.IPV6_PATTERN
    for text in _address_forms(address):
        assert re.match(pattern, text), text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:.", max_size=45))
def test_address_patterns_agree_with_ipaddress(text):
    try:
        ipaddress.ip_address(text)
        valid = True
    except ValueError:
        valid = False
    matched = bool(re.match(scalars.IPV4_PATTERN, text) or re.match(scalars.IPV6_PATTERN, text))
    assert matched == valid, text


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)), st.integers(0, 140))
def test_network_patterns_agree_with_ipaddress(address, prefix):
    text = f"{address}/{prefix}"
    try:
        ipaddress.ip_network(text, strict=False)
        valid = True
    except ValueError:
        valid = False
    matched = bool(re.match(scalars.IPV4_NETWORK_PATTERN, text)
                   or re.match(scalars.IPV6_NETWORK_PATTERN, text))
    assert matched == valid, text


@pytest.mark.parametrize("text", ["1.2.3", "01.2.3.4", "1.2.3.4.5", "256.1.1.1", ":::",
                                  "1::2::3", "fe80::1%eth0", "12345::", " 1.2.3.4"])
def test_address_patterns_refuse_near_misses(text):
    assert not re.match(scalars.IPV4_PATTERN, text) and not re.match(scalars.IPV6_PATTERN, text)


def test_schema_and_validator_agree_on_local_conf_lines(validator):
    """build/roles/nodes local_conf: the editor's schema refuses what the validator refuses
    (a lower-case name, a code variable, inline Python, a quote, a bare $)."""
    base = yaml.safe_load(EXAMPLES[0].read_text())
    cases = {("BB_NUMBER_THREADS", "8"): True, ("DL_DIR", "${TOPDIR}/dl"): True,
             ("IMAGE_INSTALL:append", " htop"): True, ("bb_threads", "1"): False,
             ("IMAGE_CMD:ext4", "true"): False, ("X", "${@os.getcwd()}"): False,
             ("X", 'a"b'): False, ("X", "$HOME"): False, ("X", "a\\nb"): False}
    for (name, value), valid in cases.items():
        document = {**base, "build": {"local_conf": {name: value}}}
        errors = list(validator.iter_errors(document))
        assert (errors == []) is valid, (name, value, [e.message for e in errors])
