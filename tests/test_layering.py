"""The core packages import no Qt and no TensorFlow at import time."""

import subprocess
import sys

CORE_MODULES = [
    "whalecat.cli",
    "whalecat.catalogue",
    "whalecat.catalogue.records",
    "whalecat.importing",
    "whalecat.imaging.io",
    "whalecat.imaging.preprocess",
    "whalecat.identification",
    "whalecat.matching.base",
    "whalecat.matching.versions",
]


def test_core_imports_no_qt_or_tensorflow():
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in CORE_MODULES)
        + "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'tensorflow', 'keras'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_only_gui_package_mentions_qt():
    from pathlib import Path

    import whalecat

    root = Path(whalecat.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "gui" not in path.relative_to(root).parts and "PySide6" in path.read_text()
    ]
    assert offenders == []
