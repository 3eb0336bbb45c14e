"""scripts/bootstrap --test installs what `aos-multinode verify` tells a user to install."""

from __future__ import annotations

import re
from pathlib import Path

from aos_multinode.verify.host import YOCTO_HOST_PACKAGES

BOOTSTRAP = Path(__file__).resolve().parent.parent / "scripts" / "bootstrap"


def test_bootstrap_installs_the_yocto_host_packages_verify_names():
    text = BOOTSTRAP.read_text(encoding="utf-8")
    match = re.search(r'yocto_host_packages="([^"]*)"', text)
    assert match, "scripts/bootstrap sets yocto_host_packages"
    listed = match[1].replace("\\\n", " ").split()
    assert sorted(listed) == sorted(YOCTO_HOST_PACKAGES.split())
    assert "$yocto_host_packages" in text


def test_bootstrap_makes_the_locale_bitbake_needs():
    text = BOOTSTRAP.read_text(encoding="utf-8")
    assert "locale-gen" in text and "en_US.UTF-8" in text
