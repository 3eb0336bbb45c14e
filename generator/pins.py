"""Known-good revisions per supported Yocto release (the table `aos-multinode pin` refreshes)."""

from __future__ import annotations

AOS_RELEASES = ("scarthgap",)
DEFAULT_AOS_VERSION = "v9.1.1"
