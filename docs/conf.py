"""Sphinx configuration of cyem's documentation.

Build (offline, warnings are errors), from the repository root::

    bash docs/build.sh
    # or: python -m sphinx -W --keep-going -b html docs docs/_build/html

The build imports the cyem found on ``sys.path`` (the installed package, or
the source tree when it is built in place and on ``PYTHONPATH``) and executes
every example of ``examples/`` and the tutorial in ``docs/tutorial/``.
No network access is needed: intersphinx is deliberately not enabled.
"""

import importlib
import os
import sys
import warnings

from sphinx.util.docutils import SphinxDirective

import cyem

HERE = os.path.dirname(os.path.abspath(__file__))

# -- Project -----------------------------------------------------------------------

project = "cyem"
author = "The cyem developers"
copyright = "The cyem developers, BSD-3-Clause"
version = release = cyem.__version__

# -- Extensions ----------------------------------------------------------------------
# No sphinx.ext.intersphinx: the build must work without network access.

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "tutorial/GALLERY_HEADER.rst", "**/*.ipynb",
                    "**/*.py.md5", "**/*.codeobj.json", "**/*.zip"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

pygments_style = "sphinx"

autosummary_generate = True
autodoc_typehints = "none"      # types are in the numpydoc Parameters sections
autodoc_member_order = "bysource"
numpydoc_show_class_members = False   # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- Examples and tutorial (sphinx-gallery) ----------------------------------------
# Scripts named plot_*.py are executed at build time and their figures kept;
# any other script is shown as a page of code, not run (the Cython one).

sphinx_gallery_conf = {
    "examples_dirs": [os.path.join("..", "examples"), "tutorial"],
    "gallery_dirs": ["auto_examples", "auto_tutorial"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib",),
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
    "show_memory": False,
    "show_signature": False,
    # A failing example fails the build (after all have run).
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,
}

# Figures are drawn with the non-interactive backend; examples must not
# depend on a display.
os.environ.setdefault("MPLBACKEND", "agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg",
                        category=UserWarning)

# -- HTML -------------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"cyem {release}"
html_static_path = ["_static"]
html_theme_options = {
    "description": "Gaussian mixtures by EM, exact and fast",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}


# -- Optional parts of the API ---------------------------------------------------------

def resolve(dotted):
    """The object named ``dotted`` (a module or an attribute of one), or None
    when it cannot be imported."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


class IfImportable(SphinxDirective):
    """Render the directive's content only if every argument can be imported.

    Lets the API reference list features that some versions of cyem do not
    have (model selection, saving and loading, plots) without breaking the
    build of the others::

        .. cyem-if-importable:: cyem.plotting

           .. automodule:: cyem.plotting
    """

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True

    def run(self):
        if any(resolve(name) is None for name in self.arguments[0].split()):
            return []
        return self.parse_content_to_nodes(allow_section_headings=True)


def setup(app):
    app.add_directive("cyem-if-importable", IfImportable)
    app.add_css_file("cyem.css")
