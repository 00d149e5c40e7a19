"""The private PBX root records the Asterisk it was built with; an untested major warns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotline.pbx import AsteriskInstall, provision_root


@pytest.mark.parametrize(
    ("version", "warns"),
    [
        ("22.10.1", False),
        ("22.0.0", False),
        ("23.1.0", True),
        ("21.4.2", True),
        ("external", False),  # Asterisk runs elsewhere: nothing known to compare
    ],
)
def test_an_untested_major_version_gets_one_sentence(version: str, warns: bool) -> None:
    install = AsteriskInstall(root=None, modules_dir="/usr/lib/asterisk/modules", version=version)
    if warns:
        assert install.warning is not None
        assert f"Asterisk {version}" in install.warning and "./run tests" in install.warning
        assert install.warning.count(". ") == 0  # one sentence
    else:
        assert install.warning is None


def test_a_provisioned_root_reports_the_version_it_recorded(tmp_path: Path) -> None:
    root = tmp_path / "pbx-root"
    (root / "usr/lib/asterisk/modules").mkdir(parents=True)
    (root / ".hotline-provisioned").write_text("2026-12-06T08:00:00Z\n")
    (root / ".hotline-root.json").write_text(
        json.dumps({"asterisk": "22.10.1", "built": "2026-12-06T08:00:00Z"})
    )
    install = provision_root(root)
    assert (install.version, install.built) == ("22.10.1", "2026-12-06T08:00:00Z")
    assert install.modules_dir == "/usr/lib/asterisk/modules"
