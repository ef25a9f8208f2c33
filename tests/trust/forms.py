"""What a browser would post from a page's form: every field with its current value.

The matrix's admin write rows start from the change page as a superuser sees it, then change
the fields the attack is about, so each role posts a complete, valid form.
"""

from html.parser import HTMLParser

from django.test import Client


class _FormFields(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._add(name, attrs.get("value", "on"))
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self._add(name, attrs.get("value") or "")
        elif tag == "select" and name and "disabled" not in attrs:
            self._select = name
            self.fields.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self._add(self._select, attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self._add(name, "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea][-1] += data


def form_data(path: str, viewer, /, **changes) -> dict[str, list[str] | str]:
    """The form on `path` as `viewer` sees it, with `changes` applied (None removes a field:
    an unticked checkbox)."""
    client = Client()
    client.force_login(viewer)
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    parser = _FormFields()
    parser.feed(response.content.decode())
    data: dict = {k: v for k, v in parser.fields.items() if k != "csrfmiddlewaretoken"}
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data
