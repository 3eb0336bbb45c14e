"""Can BitBake run here at all: root, the UTF-8 locale, the host tools; each problem
with the command that fixes it."""

from __future__ import annotations

import locale
import os
import re
from typing import Optional

from aos_multinode.verify.layer import VerifyError

UTF8 = "en_US.UTF-8"
# --- can BitBake run here at all ----------------------------------------------------------

APT_PACKAGE = {
    "chrpath": "chrpath", "cpio": "cpio", "diffstat": "diffstat", "file": "file",
    "gawk": "gawk", "awk": "gawk", "g++": "g++", "gcc": "gcc", "cpp": "cpp", "make": "make",
    "git": "git", "wget": "wget", "xz": "xz-utils", "zstd": "zstd", "pzstd": "zstd",
    "unzstd": "zstd", "lz4": "lz4", "lz4c": "lz4", "rpcgen": "rpcsvc-proto",
    "makeinfo": "texinfo", "perl": "perl", "python3": "python3", "patch": "patch",
    "diff": "diffutils", "cmp": "diffutils", "bzip2": "bzip2", "bunzip2": "bzip2",
    "gzip": "gzip", "gunzip": "gzip", "tar": "tar", "unzip": "unzip", "socat": "socat",
    "iconv": "libc-bin", "getconf": "libc-bin", "ldd": "libc-bin", "hostname": "hostname",
    "which": "debianutils", "sed": "sed", "find": "findutils", "xargs": "findutils",
    "ar": "binutils", "as": "binutils", "ld": "binutils", "nm": "binutils",
    "objcopy": "binutils", "objdump": "binutils", "ranlib": "binutils",
    "readelf": "binutils", "strings": "binutils", "strip": "binutils", "flock": "util-linux",
    "getopt": "util-linux", "ping": "iputils-ping", "GNU make": "make",
    "C Compiler (gcc)": "gcc", "C++ Compiler (g++)": "g++",
}
YOCTO_HOST_PACKAGES = ("build-essential chrpath cpio debianutils diffstat file gawk gcc git "
                       "iputils-ping libacl1 lz4 locales python3 python3-git python3-jinja2 "
                       "python3-pexpect python3-pip python3-subunit socat texinfo unzip wget "
                       "xz-utils zstd")
ROOT_MESSAGE = ("BitBake refuses to run as root. Run `aos-multinode verify` as an ordinary "
                "user (e.g. `sudo -u builder aos-multinode verify ...`) who can write DIR "
                "(or --workdir).")
LOCALE_MESSAGE = (f"BitBake needs the {UTF8} locale, and this system does not have it. "
                  "Enable it: on Debian `sudo sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 "
                  "UTF-8/' /etc/locale.gen && sudo locale-gen`; on Ubuntu `sudo locale-gen "
                  "en_US.UTF-8`; on Fedora `sudo dnf install glibc-langpack-en`.")


def check_host(euid: Optional[int] = None) -> None:
    """Raise VerifyError when BitBake cannot run here: as root, or without en_US.UTF-8."""
    if (os.geteuid() if euid is None else euid) == 0:
        raise VerifyError(ROOT_MESSAGE)
    if not utf8_locale_available():
        raise VerifyError(LOCALE_MESSAGE)


def utf8_locale_available() -> bool:
    """Return True when the C library knows en_US.UTF-8 (what BitBake switches to)."""
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, ("en_US", "UTF-8"))
        return True
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


HOSTTOOLS = re.compile(r"(?:appear to be unavailable in PATH, please install them in order to "
                       r"proceed:|Please install the following missing utilities:)\s*"
                       r"(?P<tools>[^\n]+)")


def environment_problem(text: str) -> Optional[str]:
    """Return how to fix the host when BitBake's output says it cannot run here (root,
    missing host tools, locale), else None."""
    if "Do not use Bitbake as root" in text or "Do not run BitBake as root" in text:
        return ROOT_MESSAGE
    if ("locale 'en_US.UTF-8' is available" in text or "support the en_US.UTF-8 locale" in text
            or "Please use a locale setting which supports UTF-8" in text):
        return LOCALE_MESSAGE
    match = HOSTTOOLS.search(text)
    if match:
        listed = match["tools"].strip()
        tools = [t.strip() for t in (listed.split(",") if "," in listed else listed.split())
                 if t.strip()]
        packages = sorted({APT_PACKAGE.get(tool, tool) for tool in tools})
        return (f"BitBake's host check found tools missing: {', '.join(tools)}. Install them "
                f"(Debian/Ubuntu): sudo apt-get install {' '.join(packages)}\n"
                f"The Yocto Project's full host list: sudo apt-get install "
                f"{YOCTO_HOST_PACKAGES}")
    return None

