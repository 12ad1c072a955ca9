"""Fill the English plural forms of idlens_en.ts from the source texts ("%n file(s)" -> "%n file", "%n files"),
then compile it: `python resources/i18n/english_plurals.py` after `pyside6-lupdate app/gui/*.py -ts
resources/i18n/idlens_en.ts`. Qt's tr() takes the count and picks the form; other languages get their own .ts."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent


def english(source: str) -> tuple[str, str]:
    one = re.sub(r"\(s\)", "", source).replace("(es)", "")
    many = source.replace("(s)", "s").replace("(es)", "es")
    return one, many


def main() -> None:
    ts = HERE / "idlens_en.ts"
    tree = ET.parse(ts)
    for message in tree.iter("message"):
        if message.get("numerus") != "yes":
            continue
        translation = message.find("translation")
        for child in list(translation):
            translation.remove(child)
        translation.attrib.pop("type", None)
        translation.text = None
        for form in english(message.find("source").text):
            ET.SubElement(translation, "numerusform").text = form
    tree.write(ts, encoding="utf-8", xml_declaration=True)
    lrelease = Path(sys.executable).with_name("pyside6-lrelease")
    out = HERE.parent.parent / "app" / "gui" / "i18n" / "idlens_en.qm"  # shipped with the package
    subprocess.run([str(lrelease), str(ts), "-qm", str(out)], check=True)


if __name__ == "__main__":
    main()
