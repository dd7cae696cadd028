"""Sphinx configuration of the wsframework docs.

Build: ``bash scripts/docs.sh`` (warnings are errors).  Pages are Markdown
(MyST); the API reference is reStructuredText with autodoc.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.dirname(HERE))

from wsframework.version import version as _version  # noqa: E402

project = "wsframework"
author = "wsframework contributors"
copyright = "wsframework contributors"
release = version = _version

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_design",
    "wsfdocs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}

# Unqualified names in signatures (``type[...]``) may match several
# documented attributes (WebSocketMessage.type, w3c.Event.type): not an error.
suppress_warnings = ["ref.python"]

html_theme = "furo"
html_title = f"wsframework {version}"
html_static_path = ["_static"]
html_css_files = ["wsframework.css"]
