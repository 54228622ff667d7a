"""The Jinja2 environment of the generated modules: templates are real files in ``templates/``, and a name
a template uses that its caller did not pass is an error (``StrictUndefined``), never an empty string."""

from __future__ import annotations

from functools import cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              autoescape=False)


def render(template: str, **context) -> str:
    """The text of ``templates/<template>`` with ``context``; raises jinja2.UndefinedError on a missing name."""
    return environment().get_template(template).render(**context)
