"""Completion of people's names, in the same normal form search uses (core.names): typing "zoe" offers Zoë, "lu"
offers Łukasz, and an alias ("Mum") offers its person. Qt's own filtering knows neither accents nor aliases, so the
suggestions are computed here and the popup shows them unfiltered."""
from __future__ import annotations

import logging

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import QCompleter, QLineEdit

from core.names import complete, loose

log = logging.getLogger(__name__)


def name_entries(people) -> list[tuple[str, str]]:
    """(what may be typed, the person's name to offer) for named people and their aliases."""
    out = []
    for p in people:
        if p.name:
            out.append((p.name, p.name))
            out += [(a, p.name) for a in p.aliases]
    return out


class NameCompleter(QCompleter):
    """Attached to a line edit. `whole_field`: the field holds one name (naming a face); otherwise the name being
    typed is the end of a longer query ("Anna and Be…" offers "Anna and Ben Okafor")."""

    def __init__(self, line_edit: QLineEdit, whole_field: bool = True, parent=None):
        super().__init__(parent or line_edit)
        self.line_edit, self.whole_field = line_edit, whole_field
        self.entries: list[tuple[str, str]] = []
        self.extra: list[str] = []   # whole suggestions offered as they are (recent searches)
        self.list_model = QStringListModel(self)
        self.setModel(self.list_model)
        self.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setWidget(line_edit)
        # The text overload (the other one gives a QModelIndex); PySide6's stubs type a signal as not indexable.
        self.activated[str].connect(line_edit.setText)  # type: ignore[index]
        line_edit.textEdited.connect(self.update_for)

    def set_entries(self, entries: list[tuple[str, str]], extra: list[str] | None = None) -> None:
        self.entries, self.extra = list(entries), list(extra or [])

    def suggestions(self, text: str) -> list[str]:
        if self.whole_field:
            found = complete(text, self.entries)
        else:
            words = text.split(" ")
            found = []
            # The name being typed may have several words ("Ben Ok"): the longest tail that fits someone wins.
            for n in range(min(3, len(words)), 0, -1):
                tail = " ".join(words[-n:])
                names = complete(tail, self.entries)
                if names and tail.strip():
                    head = " ".join(words[:-n])
                    found = [f"{head} {name}".strip() for name in names]
                    break
        typed = loose(text)
        found += [e for e in self.extra if typed and loose(e).startswith(typed) and e not in found]
        return [s for s in found if s != text]

    def update_for(self, text: str) -> None:
        items = self.suggestions(text)
        self.list_model.setStringList(items)
        if items:
            self.complete()
        elif (popup := self.popup()) is not None:
            popup.hide()


def ask_name(parent, title: str, label: str, people, text: str = "", beside=None) -> str | None:
    """A name from the user, with completion of the library's people (names and aliases, any spelling).
    `beside`: a global QRect (a face on screen) the dialog is placed next to, never over."""
    from PySide6.QtWidgets import QInputDialog

    dialog = QInputDialog(parent)
    if beside is not None:
        dialog.adjustSize()
        screen = parent.screen().availableGeometry() if parent is not None else None
        x = beside.right() + 16
        if screen is not None and x + dialog.width() > screen.right():
            x = max(screen.left(), beside.left() - 16 - dialog.width())  # no room on the right: the left side
        dialog.move(x, max(screen.top() if screen is not None else 0, beside.top()))
    dialog.setWindowTitle(title)
    dialog.setLabelText(label)
    dialog.setTextValue(text)
    line = dialog.findChild(QLineEdit)
    if line is not None:
        NameCompleter(line, whole_field=True, parent=dialog).set_entries(name_entries(people))
    if dialog.exec() and dialog.textValue().strip():
        return dialog.textValue().strip()
    return None
