"""The main window: sidebar (folders, people, recent searches), search field with people's names, results grid,
viewer, face panel, indexing by drag-and-drop with progress/rate/ETA/cancel, and an errors panel. Layout and
behaviour only: every piece of work goes to the Engine, off the UI thread."""
from __future__ import annotations

import html
import logging
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDialog, QDockWidget, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QMainWindow, QMenu, QMessageBox, QProgressBar, QPushButton, QSplitter, QStackedWidget,
                               QToolBar, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

import app.gui.libraries as libraries
from app.gui.completion import NameCompleter, name_entries
from app.gui.engine import Engine
from app.gui.grid_zoom import zoom_slider
from app.gui.people_panel import PeoplePanel
from app.gui.settings_dialog import model_name
from app.gui.results import MONTH_NAMES, ResultRole, ResultsModel, ResultsView
from core.wording import clock
from app.gui.viewer import Viewer, ViewerPage
from core import logs
from core.clip.hub import published
from core.names import isolated
from core.store.records import INDEXED, PENDING
from core.wording import media_counts, plural

log = logging.getLogger(__name__)

RECENT = 10
DROP_TITLE = "Drop a folder of photos and videos here"
DROP_TEXT = ("Idlens indexes them on this computer (nothing leaves it), finds the faces, and lets you\n"
             "search in plain words — and by the names of the people you know.")


def _action(parent: QWidget, text: str, slot: Callable[[], object],
            shortcut: QKeySequence.StandardKey | str | None = None) -> QAction:
    """A QAction that runs `slot`: what `QAction(text, parent, shortcut=..., triggered=...)` does, spelled in calls
    that PySide6's type stubs know (they list no signal keywords)."""
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(shortcut)
    action.triggered.connect(slot)
    return action


def _period(value: str) -> str:
    """"2019" or "2019-07" as words: "2019", "July 2019"."""
    if len(value) >= 7 and value[5:7].isdigit() and 1 <= int(value[5:7]) <= 12:
        return f"{MONTH_NAMES[int(value[5:7]) - 1]} {value[:4]}"
    return value[:4]


class MainWindow(QMainWindow):
    libraryRequested = Signal(str)  # a library folder the user chose to open instead of this one

    def __init__(self, library_dir: str, model: str | None = None, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("Idlens")
        self.setAcceptDrops(True)
        self.qsettings = settings or QSettings("Idlens", "Idlens")
        self.engine = Engine(library_dir, model, self)
        self.library_dir = library_dir
        self.model_override = model
        libraries.remember(self.qsettings, library_dir)
        self.setWindowTitle(f"Idlens — {Path(library_dir).name or library_dir}")
        self.request = 0
        self.query: str | None = None
        self.folder_filter: str | None = None  # the sidebar's folder, while browsing
        self.date_filter: str | None = None    # the sidebar's year ("2019") or month ("2019-07"), while browsing
        self.recent: list[str] = libraries.searches(self.qsettings, library_dir)[:RECENT]
        self.status: dict = {}
        # State the signals fill in later: each read before its first signal sees "nothing yet", never a missing
        # attribute (modelProgress can come from an index's first-run download, before any Download button).
        self._people: list = []                    # the people, as peopleChanged last said
        self._months: dict[str, int] | None = None  # media per "YYYY-MM", as the last browse counted them
        self._search_rows: list[dict] = []          # the last search's results, in ranked order
        self._download_started: float | None = None  # time.monotonic() of the model download's start
        self._download_clock: tuple[float, int] | None = None  # (monotonic time, bytes) at its first report
        self._model_problem: str | None = None        # why the model could not be installed, until a new try
        self._model_tried = ""                         # when that was ("14:05:09"): a new try shows as new
        self.viewer: Viewer | None = None           # the viewer page's current viewer, once a result is opened
        self.log_dialog: QDialog | None = None       # Help › Show log, once opened
        self.grid_menu: QMenu | None = None          # the grid's context menu, once opened
        self._build()
        self._connect()
        self._restore()
        self.engine.refresh()
        # Decisions and indexing from the command line beside the app show within seconds (Immich and digiKam
        # update live), not only when the window is activated again.
        self._watch = QTimer(self, interval=2000)
        self._watch.timeout.connect(self.engine.check_outside)
        self._watch.start()

    # -- layout -------------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        self.addToolBar(toolbar)
        self.add_action = _action(self, "Add folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        self.people_action = _action(self, "People", self.show_people, "Ctrl+P")
        self.settings_action = _action(self, "Settings", self.open_settings, QKeySequence.StandardKey.Preferences)
        toolbar.addAction(self.add_action)
        toolbar.addAction(self.people_action)
        toolbar.addAction(self.settings_action)
        self._build_menus()
        self.search_field = QLineEdit(self)
        self.search_field.setObjectName("search")
        self.search_field.setPlaceholderText("Search: “Anna playing guitar on the beach”, “videos of Ben in 2023”…")
        self.search_field.setClearButtonEnabled(True)
        # People's names (any spelling: "zoe" offers Zoë; aliases offer their person) and recent searches.
        self.completer = NameCompleter(self.search_field, whole_field=False, parent=self)
        toolbar.addWidget(self.search_field)
        self.sort_box = SortBox(self)
        self.sort_box.setObjectName("sort")
        self.sort_box.addItems(["Best match", "Newest first", "Oldest first"])
        self.sort_box.setToolTip("Order of the search results")
        self.sort_box.setEnabled(False)
        self.sort_box.currentIndexChanged.connect(lambda _: self._show_results())
        toolbar.addWidget(self.sort_box)
        self.addAction(_action(self, "Search", self._focus_search, QKeySequence.StandardKey.Find))
        self.addAction(_action(self, "Remove from library", self.forget_selected, QKeySequence.StandardKey.Delete))

        self.sidebar = QTreeWidget(self)
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setHeaderHidden(True)
        self.sidebar.setMinimumWidth(180)  # a narrow window squeezes the results, never the sidebar to a sliver
        self._sidebar_expanded: dict[str, bool] = {}  # section or year -> open, as the user left it
        self._sidebar_current: tuple | None = ("all", None)  # the entry of what the window shows
        self.sidebar.itemActivated.connect(self._sidebar_activated)
        self.sidebar.itemClicked.connect(self._sidebar_activated)

        self.stack = QStackedWidget(self)
        self.empty = self._empty_state()
        self.model = ResultsModel(self.engine.thumbnail_path, self)
        self.grid = ResultsView(self)
        self.grid.setObjectName("grid")
        self.grid.setModel(self.model)
        self.grid.activated.connect(self.open_index)
        self.grid.setSelectionMode(ResultsView.SelectionMode.ExtendedSelection)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        # The tiles' size (remembered), in the status bar as digiKam's zoom; Ctrl+= and Ctrl+- too.
        self.zoom = zoom_slider(self, self.grid, self.qsettings)
        self.statusBar().addPermanentWidget(self.zoom)
        # Tab goes from the search field to the results, then to the sort box (Apple Photos: search, then grid).
        QWidget.setTabOrder(self.search_field, self.grid)
        QWidget.setTabOrder(self.grid, self.sort_box)
        self.people = PeoplePanel(self.engine, self)
        self.people.search_person.connect(self.search_for)
        self.viewer_page = ViewerPage(self.engine, self)
        self.viewer_page.step.connect(self._step_viewer)
        self.viewer_page.back.connect(self.close_viewer)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.people)
        self.stack.addWidget(self.viewer_page)
        # Leaving the viewer page by any way (a new search, People, the sidebar) stops a playing video.
        self.stack.currentChanged.connect(
            lambda i: self.viewer_page.leave() if self.stack.widget(i) is not self.viewer_page else None)
        # The tile-size slider only where there are tiles to size.
        self.stack.currentChanged.connect(lambda i: self.zoom.setVisible(self.stack.widget(i) is self.grid))
        self.zoom.setVisible(False)

        self.splitter = QSplitter(self)
        self.splitter.setObjectName("splitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.stack)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([240, 900])
        self.setCentralWidget(self.splitter)

        bar = self.statusBar()
        self.message = QLabel("Ready")
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.rate = QLabel("")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_indexing)
        self.errors_button = QPushButton("", self)
        self.errors_button.setObjectName("errorsButton")
        self.errors_button.setVisible(False)
        self.errors_button.clicked.connect(self._toggle_errors)
        bar.addWidget(self.message, 1)
        bar.addPermanentWidget(self.rate)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.errors_button)

        self.errors_dock = QDockWidget("Files that could not be read", self)
        self.errors_dock.setObjectName("errorsDock")
        panel = QWidget(self.errors_dock)
        column = QVBoxLayout(panel)
        self.errors_list = QListWidget(panel)
        self.errors_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.errors_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        actions = QHBoxLayout()
        self.retry_action = _action(self, "Try again", self.retry_selected_errors)
        self.show_error_action = _action(self, "Show in folder", self.show_selected_error)
        self.remove_error_action = _action(self, "Remove from library", self.remove_selected_errors)
        for action in (self.retry_action, self.show_error_action, self.remove_error_action):
            self.errors_list.addAction(action)
            button = QPushButton(action.text(), panel)
            button.clicked.connect(action.trigger)
            actions.addWidget(button)
        actions.addStretch(1)
        column.addWidget(self.errors_list, 1)
        column.addLayout(actions)
        self.errors_dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.errors_dock)
        self.errors_dock.setVisible(False)
        self.drop_target = QLabel("Drop to add to the library", self)
        self.drop_target.setObjectName("dropTarget")
        self.drop_target.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_target.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # the drop is the window's
        self.drop_target.setStyleSheet("QLabel#dropTarget { border: 3px dashed palette(highlight); border-radius: 12px;"
                                       " background: palette(window); font-size: 22px; font-weight: bold; }")
        self.drop_target.setVisible(False)
        self._browse_timer = QTimer(self, singleShot=True, interval=800)
        self._browse_timer.timeout.connect(self.engine.refresh)

    def _focus_search(self) -> None:
        self.search_field.setFocus()
        self.search_field.selectAll()

    def _toggle_errors(self) -> None:
        self.errors_dock.setVisible(not self.errors_dock.isVisible())

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_library_action = _action(self, "Open library…", self.choose_library, "Ctrl+Shift+O")
        file_menu.addAction(self.open_library_action)
        self.recent_menu = file_menu.addMenu("Recent libraries")
        self.recent_menu.aboutToShow.connect(self._fill_recent_libraries)
        file_menu.addSeparator()
        file_menu.addAction(self.add_action)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        self.write_names_action = _action(self, "Write names to XMP…", self.write_names_to_xmp)
        self.write_names_action.setStatusTip("Names of faces into XMP sidecars, for digiKam, Lightroom and others")
        file_menu.addAction(self.write_names_action)
        file_menu.addSeparator()
        file_menu.addAction(_action(self, "Quit", self.close, QKeySequence.StandardKey.Quit))
        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = _action(self, "Undo", self.engine.undo, QKeySequence.StandardKey.Undo)
        self.undo_action.setEnabled(False)
        edit_menu.addAction(self.undo_action)
        self.redo_action = _action(self, "Redo", self.engine.redo, QKeySequence.StandardKey.Redo)
        self.redo_action.setEnabled(False)
        edit_menu.addAction(self.redo_action)
        self.engine.undoChanged.connect(self._undo_changed)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.people_action)
        help_menu = self.menuBar().addMenu("&Help")
        self.show_log_action = _action(self, "Show log", self.show_log)
        self.show_log_action.setStatusTip(str(logs.log_file()))
        help_menu.addAction(self.show_log_action)
        help_menu.addSeparator()
        help_menu.addAction(_action(self, "About Idlens", self.show_about))

    def show_about(self) -> None:
        """Help › About: what this is, which version, where its files are, and whose work it runs on."""
        from importlib.metadata import PackageNotFoundError, version

        from core.settings import models_dir

        try:
            release = version("idlens")
        except PackageNotFoundError:  # run from a checkout that was never installed
            release = "(not installed)"
        QMessageBox.about(self, "About Idlens", (
            f"<h3>Idlens {html.escape(release)}</h3>"
            "<p>Finds the people you know in your photos and videos, in plain words. Everything runs on this "
            "computer; your photos, faces and names never leave it.</p>"
            f"<p>Library: {html.escape(self.library_dir)}<br>Model: {html.escape(self.status.get('model', ''))}"
            f"<br>Models folder: {html.escape(str(models_dir()))}<br>Log: {html.escape(str(logs.log_file()))}</p>"
            "<p>Runs on the work of others: CLIP models trained by OpenAI, LAION and DataComp (open_clip; ONNX "
            "exports published by rclip and Immich), the YuNet face detector and SFace recogniser of OpenCV Zoo, "
            "ONNX Runtime, hnswlib, SQLite, PyAV (FFmpeg), Pillow and Qt (PySide6). Each keeps its own licence.</p>"))

    def show_log(self) -> None:
        """Help › Show log: the log file's place and its last lines, and a button that opens it (attach it to a bug
        report)."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices, QFontDatabase
        from PySide6.QtWidgets import QDialogButtonBox, QPlainTextEdit

        path = logs.log_file()
        dialog = QDialog(self)
        dialog.setObjectName("logDialog")
        dialog.setWindowTitle("Log")
        dialog.resize(900, 500)
        column = QVBoxLayout(dialog)
        where = QLabel(f"The log is kept in <b>{html.escape(str(path))}</b> (the three older ones beside it).",
                       dialog)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where.setWordWrap(True)
        column.addWidget(where)
        text = QPlainTextEdit(logs.tail() or "(nothing logged yet)", dialog)
        text.setReadOnly(True)
        text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        column.addWidget(text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
        open_button = buttons.addButton("Open log file", QDialogButtonBox.ButtonRole.ActionRole)
        open_button.setEnabled(path.exists())
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))
        buttons.rejected.connect(dialog.close)
        column.addWidget(buttons)
        text.moveCursor(text.textCursor().MoveOperation.End)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.log_dialog = dialog
        dialog.show()

    def changeEvent(self, event) -> None:
        from PySide6.QtCore import QEvent

        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow() and not self.engine.closed:
            self.engine.refresh_people()  # decisions made from the command line show, and can be undone here

    def _undo_changed(self, undo: str, redo: str) -> None:
        self.undo_action.setEnabled(bool(undo))
        self.undo_action.setText(f"Undo {undo}" if undo else "Undo")
        self.redo_action.setEnabled(bool(redo))
        self.redo_action.setText(f"Redo {redo}" if redo else "Redo")

    def _fill_recent_libraries(self) -> None:
        self.recent_menu.clear()
        for path in libraries.recent(self.qsettings):
            action = self.recent_menu.addAction(path, partial(self.open_library, path))
            action.setEnabled(path != os.path.abspath(self.library_dir))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def change_model(self, spec: str) -> None:
        self.model_override = spec
        self.message.setText(f"Switching to {spec}…")
        self._download_started = time.monotonic()
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.engine.change_model(spec)

    def choose_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open or create a library folder",
                                                  os.path.dirname(os.path.abspath(self.library_dir)))
        if folder:
            self.open_library(folder)

    def open_library(self, folder: str) -> None:
        """Switch this window to another library: a new window on it takes this one's place (indexing here stops
        after its current batch; what is done is kept). Whoever made this window opens the new one."""
        if os.path.abspath(folder) == os.path.abspath(self.library_dir):
            return
        if self.engine.indexing and QMessageBox.question(
                self, "Open another library", "Indexing is still running in this library. Stop it (what is done "
                "is kept) and open the other library?") != QMessageBox.StandardButton.Yes:
            return
        self.close()  # saves this window's state first, so the new one starts from it
        self.libraryRequested.emit(folder)

    def _empty_state(self) -> QWidget:
        w = QWidget(self)
        w.setObjectName("emptyState")
        layout = QVBoxLayout(w)
        layout.addStretch(1)
        self.empty_title = title = QLabel(f"<h1>{DROP_TITLE}</h1>", w)
        title.setObjectName("emptyTitle")
        title.setWordWrap(True)  # "63 photos · 2 videos found, waiting…" never widens an 800 px window
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text = text = QLabel(DROP_TEXT, w)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        self.model_note = QLabel("", w)
        self.model_note.setObjectName("modelNote")
        self.model_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_note.setWordWrap(True)
        button = QPushButton("Add folder…", w)
        button.clicked.connect(self.choose_folder)
        self.download_button = QPushButton("Download the CLIP model now", w)
        self.download_button.setObjectName("downloadModel")
        self.download_button.setVisible(False)
        self.download_button.clicked.connect(self.download_model)
        self.index_button = QPushButton("Index them now", w)  # files found while no model was installed
        self.index_button.setObjectName("indexWaiting")
        self.index_button.setVisible(False)
        self.index_button.clicked.connect(lambda: self.index_paths([]))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        row.addWidget(self.download_button)
        row.addWidget(self.index_button)
        row.addStretch(1)
        for widget in (title, text):
            layout.addWidget(widget)
        layout.addLayout(row)
        layout.addWidget(self.model_note)
        layout.addStretch(2)
        return w

    def _connect(self) -> None:
        e = self.engine
        # Deferred by one turn of the event loop: Return on a completion first puts the chosen name in the field.
        self.search_field.returnPressed.connect(
            lambda: QTimer.singleShot(0, lambda: self.search_for(self.search_field.text())))
        e.indexStarted.connect(self._index_started)
        e.indexProgress.connect(self._index_progress)
        e.indexFinished.connect(self._index_finished)
        e.mediaIndexed.connect(lambda _: self._browse_timer.start() if self.query is None else None)
        e.searchFinished.connect(self._search_finished)
        e.statusChanged.connect(self._status_changed)
        e.peopleChanged.connect(self._people_changed)
        e.decided.connect(self.message.setText)  # every decision says what it did (never "Ready" after a move)
        e.browseReady.connect(self._browse_ready)
        e.failed.connect(self._failed)
        e.modelReady.connect(self._model_ready)
        e.modelProgress.connect(self._model_progress)

    def _restore(self) -> None:
        geometry = self.qsettings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:  # first start: a comfortable size for the screen, centred on it
            screen = self.screen().availableGeometry()
            self.resize(min(1280, int(screen.width() * 0.9)), min(820, int(screen.height() * 0.9)))
            frame = self.frameGeometry()
            frame.moveCenter(screen.center())
            self.move(frame.topLeft())
        state = self.qsettings.value("splitter")
        if state is not None:
            self.splitter.restoreState(state)

    def closeEvent(self, event) -> None:
        if self.engine.indexing:
            self.engine.cancel()  # what is done is kept; the next start continues
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue("splitter", self.splitter.saveState())
        libraries.save_searches(self.qsettings, self.library_dir, self.recent)
        self._browse_timer.stop()
        self._watch.stop()
        self.engine.shutdown()
        super().closeEvent(event)

    # -- indexing -------------------------------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
            self._show_drop_target(True)

    def dragLeaveEvent(self, event) -> None:
        self._show_drop_target(False)
        super().dragLeaveEvent(event)

    def _show_drop_target(self, shown: bool) -> None:
        """While files are dragged over the window, it says where they go (Apple Photos and Immich light up)."""
        if shown:
            self.drop_target.setGeometry(self.splitter.geometry().adjusted(8, 8, -8, -8))
            self.drop_target.raise_()
        self.drop_target.setVisible(shown)

    def dropEvent(self, event) -> None:
        self._show_drop_target(False)
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.index_paths(paths)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos and videos", str(Path.home()))
        if folder:
            self.index_paths([folder])

    def index_paths(self, paths: list[str]) -> None:
        if self.engine.indexing:
            self.message.setText("Already indexing; drop again when it is done")
            return
        self.engine.index([os.path.abspath(p) for p in paths])

    def cancel_indexing(self) -> None:
        self.engine.cancel()
        self.cancel_button.setEnabled(False)
        self.message.setText("Stopping after the current batch; everything done so far is kept…")

    def _index_started(self, _job) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.message.setText("Looking for photos and videos…")
        self._show_first_run()  # the page counts what waits; the grid takes over with the first files indexed

    def _index_progress(self, p: dict) -> None:
        if p["stage"] == "embed":
            # The bar moves by pictures (a photo, a video frame): a long video fills it as its frames are sampled
            self.progress.setRange(0, max(1, round(p.get("work_total") or p["total"])))
            self.progress.setValue(round(p.get("work") or p["done"]) if p.get("work_total") else p["done"])
            eta = f" · {clock(p['eta'])} left" if p.get("eta") is not None else ""
            video = f" · {clock(p['video_seconds'])} of video" if p.get("video_seconds") else ""
            self.rate.setText(f"{p['done']}/{p['total']} files{video} · {p['rate']:.1f} pictures/s{eta}")
            if p.get("path"):
                self.message.setText(f"Indexing {Path(p['path']).name}")
        elif p["stage"] == "model":
            self.message.setText("Loading the CLIP model…")
        elif p["stage"] == "people":
            self.message.setText("Grouping faces into people…")

    def _index_finished(self, r: dict) -> None:
        self._download_started = self._download_clock = None  # a model the index installed is done downloading
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.rate.setText("")
        text = (self.tr("Stopped: %n file(s) indexed", "", r["indexed"]) if r["cancelled"]
                else self.tr("Done: %n file(s) indexed", "", r["indexed"]))
        if r["errors"]:
            text += self.tr(", %n could not be read", "", r["errors"])
        if self._model_problem:  # stopped for want of a model: say that, not "Stopped"
            text = "No CLIP model yet: the files found wait for it (why: on the page)"
            self.message.setToolTip(self._model_problem)
        self.message.setText(text)
        self.engine.refresh()
        self._show_first_run()

    # -- search ---------------------------------------------------------------------------------------------------------
    def search_for(self, text: str) -> None:
        text = text.strip()
        self.search_field.setText(text)
        if not text:
            self.query = None
            self.engine.refresh()
            self.stack.setCurrentWidget(self.grid)
            return
        self.query = text
        self._sidebar_current = ("search", text)  # a person's entry or a recent search, when there is one
        if text in self.recent:
            self.recent.remove(text)
        self.recent.insert(0, text)
        del self.recent[RECENT:]
        self.completer.set_entries(name_entries(self._people), self.recent)
        self._fill_sidebar()
        self.message.setText(f"Searching “{text}”…")
        self.request = self.engine.search(text)

    def find_similar(self, path: str) -> None:
        """Photos and videos that look like this one (CLIP's image search, as `idlens search --image`)."""
        self.query = f"like {Path(path).name}"
        self._sidebar_current = None
        self.search_field.clear()
        self.message.setText(f"Looking for photos like {Path(path).name}…")
        self.request = self.engine.search(None, image=path)

    def _search_finished(self, request: int, outcome) -> None:
        if request != self.request:
            return  # an older search finished after a newer one started: drop it
        # As the browsed grid has it (services.browse): `captured_at` is when it was taken — the capture date, else
        # the file's date (marked by `dated_by`) — so results show a date, sort and fall under month headers alike.
        rows = [{**r.to_json(), "captured_at": r.date} for r in outcome.results]
        self._search_rows = rows
        self._show_results()
        self.stack.setCurrentWidget(self.grid)
        note = self.tr("%n result(s) for “%1”", "", len(rows)).replace("%1", self.query or "")
        q = outcome.query
        if q.unknown_names:
            note += f" — not a person in your library: {', '.join(q.unknown_names)}"
        for extra in q.notes:  # "Ben: Ben Okafor or Ben Lee — type the full name to choose"
            note += f" — {extra}"
        if outcome.offline_files:  # an unplugged drive: said, as on the command line
            note += " — " + self.tr("%n file(s) in folders that cannot be reached are left out", "",
                                    outcome.offline_files)
        if self.status.get("test_model") and q.context:  # only a word search asks the (random) model
            note += " — the test model has random weights: its word search means nothing"
        self.message.setText(note)

    def _show_results(self) -> None:
        """The search results in the order chosen: best match first (as ranked), or by capture date (undated last)."""
        if self.query is None:
            return
        self.sort_box.setEnabled(True)
        rows = list(self._search_rows)
        choice = self.sort_box.currentIndex()
        if choice:
            dated = sorted((r for r in rows if r.get("captured_at")), key=lambda r: r["captured_at"],
                           reverse=choice == 1)
            rows = dated + [r for r in rows if not r.get("captured_at")]
        self.model.set_rows(rows, by_date=bool(choice))

    def _browse_ready(self, rows: list[dict]) -> None:
        self.model.remember_focus(rows)  # where each file's faces are, for search results' tiles too
        if self.query is not None:
            return
        self.sort_box.setEnabled(False)  # browsing is by date, newest first; the choice orders search results
        months: dict[str, int] = {}
        for r in rows:
            if r.get("captured_at"):
                months[r["captured_at"][:7]] = months.get(r["captured_at"][:7], 0) + 1
        if months != self._months:
            self._months = months
            self._fill_sidebar()
        if self.folder_filter:  # a folder chosen in the sidebar: only what is in it
            prefix = self.folder_filter.rstrip("/") + "/"
            rows = [r for r in rows if r["path"].startswith(prefix)]
            self.message.setText(self.tr("%n file(s) in %1", "", len(rows))
                                 .replace("%1", Path(self.folder_filter).name or self.folder_filter))
        elif self.date_filter:  # a year or a month chosen in the sidebar
            rows = [r for r in rows if (r.get("captured_at") or "").startswith(self.date_filter)]
            self.message.setText(self.tr("%n file(s) from %1", "", len(rows)).replace("%1", _period(self.date_filter)))
        if not self.folder_filter and not self.date_filter and not self.engine.indexing \
                and self.stack.currentWidget() is self.grid:  # what the grid shows, not the last search's count
            self.message.setText(media_counts(sum(r["kind"] == "image" for r in rows),
                                              sum(r["kind"] == "video" for r in rows)))
        self.model.set_rows(rows, by_date=True)
        if rows and self.stack.currentWidget() is self.empty:
            self.stack.setCurrentWidget(self.grid)
        elif not rows and not self.engine.indexing and self.stack.currentWidget() is self.grid:
            self.stack.setCurrentWidget(self.empty)

    # -- viewer and removal ---------------------------------------------------------------------------------------------
    def open_index(self, index) -> None:
        """Show a result in the viewer page, in this window."""
        row = index.data(ResultRole)
        if row:
            self.grid.setCurrentIndex(index)
            self.viewer = self.viewer_page.show_row(row, index.row() + 1, self.model.rowCount())
            self.stack.setCurrentWidget(self.viewer_page)

    def _step_viewer(self, delta: int) -> None:
        """Left/Right in the viewer: the previous or next result."""
        row = self.grid.currentIndex().row() + delta
        if 0 <= row < self.model.rowCount():
            self.open_index(self.model.index(row))

    def close_viewer(self) -> None:
        """Back to the grid, on the item that was shown (the grid kept its scroll position)."""
        self.viewer_page.leave()
        self.stack.setCurrentWidget(self.grid)
        self.grid.scrollTo(self.grid.currentIndex())
        self.grid.setFocus()

    def _grid_menu(self, pos) -> None:
        rows = [i.data(ResultRole) for i in self.grid.selectedIndexes()]
        if not rows:
            return
        menu = QMenu(self)
        if len(rows) == 1:
            menu.addAction("Open", lambda: self.open_index(self.grid.currentIndex()))
            if rows[0]["kind"] == "image":  # Immich's "find similar": the search by an example photo
                menu.addAction("Find similar photos", lambda: self.find_similar(rows[0]["path"]))
        menu.addAction("Show in folder", lambda: self.show_in_folder([r["path"] for r in rows]))
        menu.addAction(self.tr("Remove %n file(s) from the library…", "", len(rows)), self.forget_selected)
        menu.popup(self.grid.viewport().mapToGlobal(pos))
        self.grid_menu = menu

    def show_in_folder(self, paths: list[str]) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        for folder in sorted({os.path.dirname(p) for p in paths})[:5]:  # a few windows at most
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def forget_selected(self) -> None:
        rows = [i.data(ResultRole) for i in self.grid.selectedIndexes()]
        if not rows or self.stack.currentWidget() is not self.grid:
            return
        answer = QMessageBox.question(self, "Remove from library",
                                      self.tr("Remove %n file(s) from the library?", "", len(rows))
                                      + "\n" + self.tr("The files on your disk are not touched."))
        if answer == QMessageBox.StandardButton.Yes:
            self.engine.forget([r["path"] for r in rows])

    # -- sidebar, people, status ----------------------------------------------------------------------------------------
    def show_people(self) -> None:
        """The People overview (never the last person's page: the toolbar's People is the way back to everyone)."""
        self.people.show_list()
        self.stack.setCurrentWidget(self.people)
        self._sidebar_current = ("people", None)
        self._mark_sidebar()
        named = sum(1 for p in self._people if p.name)
        self.message.setText(f"{plural(named, 'person', 'people')} named, "
                             f"{plural(len(self._people) - named, 'group')} to name")

    def _status_changed(self, status: dict) -> None:
        self.status = status
        errors = status.get("errors", [])
        self.errors_list.clear()
        for e in errors:
            self.errors_list.addItem(f"{e['path']}: {e['error']}")
            self.errors_list.item(self.errors_list.count() - 1).setData(Qt.ItemDataRole.UserRole, e["path"])
            if e.get("detail"):  # the library's own words, for whoever wants them
                self.errors_list.item(self.errors_list.count() - 1).setToolTip(e["detail"])
        self.errors_button.setVisible(bool(errors))
        self.errors_button.setText(self.tr("⚠ %n file(s) could not be read — show", "", len(errors)))
        self._show_first_run()
        self._fill_sidebar()

    def _show_first_run(self) -> None:
        """The empty page as the library stands: nothing yet (drop a folder), or files found that wait for the
        model (how many, why, and the one button that goes on) — never "Drop a folder" beside "Library (12)"."""
        status = self.status
        counts = status.get("media", {})
        waiting = {kind: by_status.get(PENDING, 0) for kind, by_status in counts.items()}
        downloading = self._download_started is not None
        if sum(waiting.values()):
            files = media_counts(waiting.get("image", 0), waiting.get("video", 0))
            self.empty_title.setText(f"<h1>{html.escape(files)} found, waiting to be indexed</h1>")
            self.empty_text.setText("They are indexed as soon as the CLIP model is on this computer." if downloading
                                    else "Indexing them now: they show here as they are done."
                                    if self.engine.indexing else
                                    "Idlens indexes them once its CLIP model is on this computer."
                                    if not status.get("weights_available") else
                                    "They are not indexed yet: Index them now goes on with them.")
        elif downloading:
            self.empty_title.setText("<h1>Getting the CLIP model ready</h1>")
            self.empty_text.setText("Idlens downloads it once; then add a folder, or drop one here, and it is indexed.")
        else:
            self.empty_title.setText(f"<h1>{DROP_TITLE}</h1>")
            self.empty_text.setText(DROP_TEXT)
        model = status.get("model", "")
        source = published(model) if model else None
        named = model_name(model)
        size = f"about {source.megabytes} MB" if source else "converted here from open_clip"
        if downloading:
            note = self.message.text()  # the download's megabytes, rate and time left, as the status line has them
        elif self._model_problem:  # its first line: what and what to do; the system's words are in the tooltip
            note = f"The model could not be installed (tried at {self._model_tried}). " \
                   f"{self._model_problem.splitlines()[0]}"
        elif status.get("test_model"):
            note = f"Model: {named} — random weights, useless for real search (tests only). Choose a real " \
                   "model in Settings."
        elif status.get("weights_available"):
            note = f"Model: {named} (ready)."
        else:
            note = f"Model: {named}. It is installed once ({size}), into your data folder — now, or when you add " \
                   "the first folder."
        self.model_note.setText(note)
        self.model_note.setToolTip(self._model_problem or "")
        self.download_button.setVisible(bool(status) and not status.get("weights_available", True))
        self.download_button.setEnabled(not downloading and not self.engine.indexing)
        self.download_button.setText("Try again" if self._model_problem else "Download the CLIP model now")
        self.index_button.setVisible(bool(sum(waiting.values())) and bool(status.get("weights_available"))
                                     and not self.engine.indexing)

    def _selected_error_paths(self) -> list[str]:
        items = self.errors_list.selectedItems() or ([self.errors_list.currentItem()]
                                                     if self.errors_list.currentItem() else [])
        return [i.data(Qt.ItemDataRole.UserRole) for i in items if i is not None]

    def retry_selected_errors(self) -> None:
        paths = self._selected_error_paths() or [self.errors_list.item(i).data(Qt.ItemDataRole.UserRole)
                                                 for i in range(self.errors_list.count())]
        if paths:
            self.engine.retry(paths)

    def show_selected_error(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        for path in self._selected_error_paths()[:1]:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))

    def remove_selected_errors(self) -> None:
        paths = self._selected_error_paths()
        if paths and QMessageBox.question(
                self, "Remove from library", self.tr("Remove %n file(s) from the library?", "", len(paths))
                + "\n" + self.tr("The files on your disk are not touched.")) == QMessageBox.StandardButton.Yes:
            self.engine.forget(paths)

    def _people_changed(self, people) -> None:
        self.completer.set_entries(name_entries(people), self.recent)
        self._people = people
        self._fill_sidebar()
        # After every decision — the viewer's, the panel's, an undo, or the command line's (seen when the window
        # comes back to the front) — the open file's boxes and info panel show the library as it is now.
        viewer = self.viewer_page.viewer
        if viewer is not None and self.stack.currentWidget() is self.viewer_page:
            viewer.refresh_faces()

    def _fill_sidebar(self) -> None:
        # What the user opened or closed stays so across refills (they come after every index and decision); by
        # default the sections are open and the Dates tree is closed, so ten years of months never push People off
        # screen (Apple Photos and digiKam open their date views only on request).
        for i in range(self.sidebar.topLevelItemCount()):
            self._remember_expanded(self.sidebar.topLevelItem(i))
        self.sidebar.clear()
        # Counts are what the grid shows (indexed files); files found but not indexed yet are said apart.
        counts = self.status.get("media", {})
        shown = sum(v.get(INDEXED, 0) for v in counts.values())
        waiting = sum(v.get(PENDING, 0) for v in counts.values())
        library = QTreeWidgetItem(self.sidebar, [f"Library ({shown})" + (f" · {waiting} waiting" if waiting else "")])
        QTreeWidgetItem(library, ["All photos and videos"]).setData(0, Qt.ItemDataRole.UserRole, ("all", None))
        for root in self.status.get("folders", []):
            label = f"{Path(root['path']).name or root['path']} ({root.get('indexed', root['files'])})"
            if root.get("waiting"):
                label += f" · {root['waiting']} waiting"
            if root["errors"]:
                label += " · " + self.tr("%n error(s)", "", root["errors"])
            if root.get("offline"):
                label += " · offline"
            item = QTreeWidgetItem(library, [label])
            item.setToolTip(0, root["path"] + (f"\nCannot be reached ({root['offline']}): its files are kept, and "
                                               "searched again when it is back." if root.get("offline") else ""))
            item.setData(0, Qt.ItemDataRole.UserRole, ("folder", root["path"]))
        months = self._months or {}
        if months:  # the library by date, newest first, as digiKam's and Apple Photos' date views
            dates = QTreeWidgetItem(self.sidebar, ["Dates"])
            for year in sorted({m[:4] for m in months}, reverse=True):
                year_item = QTreeWidgetItem(dates, [f"{year} ({sum(n for m, n in months.items() if m[:4] == year)})"])
                year_item.setData(0, Qt.ItemDataRole.UserRole, ("date", year))
                for month in sorted((m for m in months if m[:4] == year), reverse=True):
                    QTreeWidgetItem(year_item, [f"{_period(month)} ({months[month]})"]).setData(
                        0, Qt.ItemDataRole.UserRole, ("date", month))
        people = QTreeWidgetItem(self.sidebar, ["People"])
        people.setData(0, Qt.ItemDataRole.UserRole, ("people", None))
        for p in self._people:
            if p.name:
                QTreeWidgetItem(people, [f"{isolated(p.name)} ({p.media})"]).setData(0, Qt.ItemDataRole.UserRole,
                                                                                    ("search", p.name))
        recent = QTreeWidgetItem(self.sidebar, ["Recent searches"])
        for text in self.recent:
            QTreeWidgetItem(recent, [text]).setData(0, Qt.ItemDataRole.UserRole, ("search", text))
        for i in range(self.sidebar.topLevelItemCount()):
            self._restore_expanded(self.sidebar.topLevelItem(i))
        self._mark_sidebar()

    def _mark_sidebar(self) -> None:
        """The sidebar shows where the window is (All, a folder, a month, People, the search shown), refills too."""
        self.sidebar.blockSignals(True)
        self.sidebar.setCurrentIndex(QModelIndex())
        self.sidebar.clearSelection()
        found = self.sidebar.findItems("*", Qt.MatchFlag.MatchWildcard | Qt.MatchFlag.MatchRecursive)
        for item in found:
            if item.data(0, Qt.ItemDataRole.UserRole) == self._sidebar_current:
                self.sidebar.setCurrentItem(item)
                break
        self.sidebar.blockSignals(False)

    @staticmethod
    def _sidebar_key(item) -> str:
        data = item.data(0, Qt.ItemDataRole.UserRole)
        return repr(data) if data else item.text(0).split(" (")[0]  # "Library (12)" -> "Library"

    def _remember_expanded(self, item) -> None:
        if item.childCount():
            self._sidebar_expanded[self._sidebar_key(item)] = item.isExpanded()
        for i in range(item.childCount()):
            self._remember_expanded(item.child(i))

    def _restore_expanded(self, item) -> None:
        if item.childCount():
            default = item.parent() is None and self._sidebar_key(item) != "Dates"
            item.setExpanded(self._sidebar_expanded.get(self._sidebar_key(item), default))
        for i in range(item.childCount()):
            self._restore_expanded(item.child(i))

    def _sidebar_activated(self, item, _column=0) -> None:
        kind, value = item.data(0, Qt.ItemDataRole.UserRole) or (None, None)
        if kind is not None:
            self._sidebar_current = (kind, value)
        if kind == "search" and value:
            self.search_for(value)
        elif kind == "people":
            self.show_people()
        elif kind in ("all", "folder", "date"):
            self.query = None
            self.folder_filter = value if kind == "folder" else None
            self.date_filter = value if kind == "date" else None
            self.search_field.clear()
            self.engine.refresh()
            self.stack.setCurrentWidget(self.grid)

    def write_names_to_xmp(self) -> None:
        """File › Write names to XMP…: asked, written on the engine's own thread, then said (what was left alone
        and why in the details)."""
        from app.gui.xmp_dialog import WriteNamesDialog, show_report

        dialog = WriteNamesDialog(self)
        if not dialog.exec():
            return
        style, automatic = dialog.chosen()
        self.message.setText("Writing names to XMP sidecars…")

        def done(report) -> None:
            self.names_report = show_report(self, report)
            self.message.setText(self.names_report.text())
        self.engine.write_names(style, automatic, done)

    def open_settings(self) -> None:
        from app.gui.settings_dialog import SettingsDialog
        from core.services import load_settings

        settings = load_settings(self.library_dir)
        dialog = SettingsDialog(settings, self.library_dir, self.status.get("model", settings.model), self)
        if not dialog.exec():
            return
        dialog.apply()
        new_model, old_model = dialog.model_spec(), self.status.get("model")
        embedded = sum(v.get(INDEXED, 0) for v in self.status.get("media", {}).values())
        if new_model != old_model and self.status.get("library_model") and old_model:
            # Vectors of two models never mix: a new model means re-embedding; declined, the model stays.
            if QMessageBox.question(
                    self, "Change the model", self.tr("Re-embed the library's %n file(s) with %1 now? Names and faces "
                                                      "stay; you can keep searching meanwhile.", "", embedded)
                    .replace("%1", new_model)) == QMessageBox.StandardButton.Yes:
                self.change_model(new_model)
            else:
                settings.model = old_model
                self.message.setText(f"The model stays {old_model}")
            self.engine.save_settings(settings)  # validated and written under the library's write lock
        else:  # nothing embedded yet: the new model is simply the one to install
            self.engine.save_settings(settings, lambda _: self.engine.use_model(new_model))
        if os.path.abspath(dialog.library.text()) != os.path.abspath(self.library_dir):
            self.open_library(dialog.library.text())

    def download_model(self) -> None:
        self._model_problem = None
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.message.setText("Preparing the CLIP model…")
        self._download_started = time.monotonic()
        self._show_first_run()
        self.engine.download_model()

    def _model_progress(self, what: str, done: int, total: int) -> None:
        """The whole download in megabytes, with its rate and time left; then each step by name and number. The
        same whoever started it: the Download button, Settings, or the first folder added."""
        self.progress.setVisible(True)
        if what == "done":
            self.progress.setRange(0, 0)
            self.message.setText("Loading the CLIP model…")
            return
        if total <= 0:
            self.progress.setRange(0, 0)
            self.message.setText(what[:1].upper() + what[1:] + "…")
            return
        if what.startswith("downloading"):
            unit = 1_000_000 if total >= 1_000_000 else 1  # a QProgressBar counts in 32-bit ints: megabytes
            self.progress.setRange(0, total // unit)
            self.progress.setValue(done // unit)
            if self._download_started is None:  # a download the engine started itself (the first index)
                self._download_started = time.monotonic()
                self._show_first_run()
            if self._download_clock is None:  # the rate counts from the first bytes, not from the button
                self._download_clock = (time.monotonic(), done)
            since, before = self._download_clock
            elapsed = time.monotonic() - since
            rate = (done - before) / elapsed if elapsed >= 0.5 else 0.0
            pace = (f"{rate / 1e6:.1f} MB/s, about {clock((total - done) / rate)} left" if rate > 0
                    else "starting…")
            self.message.setText(f"Downloading the CLIP model: {_megabytes(done)} of {_megabytes(total)}, {pace}")
            self.model_note.setText(self.message.text())  # the page says it too, in the middle of the window
        else:  # a step: `done` steps are finished, this one starts
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.message.setText(f"{what[:1].upper()}{what[1:]} (step {done + 1} of {total})…")
            if self._download_started is None:  # a conversion, or the steps after a download: the model is coming
                self._download_started = time.monotonic()
            self._show_first_run()  # the page says the step too

    def _model_ready(self, spec: str) -> None:
        self._download_started = self._download_clock = None  # the next download has its own clock
        self._model_problem = None
        self.progress.setVisible(self.engine.indexing)
        self.message.setText(f"Model {spec} is ready")
        waiting = sum(v.get(PENDING, 0) for v in self.status.get("media", {}).values())
        if waiting and not self.engine.indexing:  # files found before the model came: index them now
            self.index_paths([])
        self.engine.refresh()

    def _failed(self, what: str, message: str) -> None:
        self.message.setToolTip(message)  # the whole of it, where the status line cuts it
        if what == "downloading the model":
            self._download_started = self._download_clock = None
            self._model_problem = message  # in the empty page, in plain words, with "Try again"
            self._model_tried = time.strftime("%H:%M:%S")
            self.message.setText("The CLIP model could not be installed" + (" (why: on the page)" if
                                 self.stack.currentWidget() is self.empty else f": {message.splitlines()[0]}"))
            self._show_first_run()
            if self.download_button.isVisible():
                self.download_button.setFocus()  # Try again is where the user left it
        else:
            self.message.setText(f"{what.capitalize()} failed: {message}")
        if not self.engine.indexing:  # whatever failed, no busy bar is left running after it
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            self.rate.setText("")


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 10e6 else f"{n / 1e6:.1f} MB"


class SortBox(QComboBox):
    """The results' order. An arrow key or the wheel never changes it by itself (a Down meant for the grid once
    switched every later search to "Newest first"): Up/Down open its list, as a popup button does in Apple Photos,
    and the wheel scrolls the window under it."""

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown,
                           Qt.Key.Key_Home, Qt.Key.Key_End) and not event.modifiers():
            self.showPopup()
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event) -> None:
        event.ignore()

