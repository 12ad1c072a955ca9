"""Settings offers only the models this install can run (issue 21, case 2): the random-weight test model needs the
research extra (torch, open_clip) to be made, so a plain install never offers it."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def test_the_test_model_is_offered_only_with_the_research_tools(qtbot, monkeypatch):
    import app.gui.settings_dialog as dialog_module
    from core.settings import Settings

    def offered(research: bool) -> list[str]:
        monkeypatch.setattr(dialog_module, "_research_tools", lambda: research)
        dialog = dialog_module.SettingsDialog(Settings(), "/tmp/lib", "ViT-B-32-256:datacomp_s34b_b86k")
        qtbot.addWidget(dialog)
        return [dialog.model.itemData(i) for i in range(dialog.model.count())]

    plain = offered(False)
    assert "tiny-test" not in plain and "ViT-B-32-256:datacomp_s34b_b86k" in plain
    assert "tiny-test" in offered(True)
