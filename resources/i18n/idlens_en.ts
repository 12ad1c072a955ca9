<?xml version='1.0' encoding='utf-8'?>
<TS version="2.1" language="en_US">
<context>
    <name>MainWindow</name>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="362" />
        <source>Stopped: %n file(s) indexed</source>
        <translation><numerusform>Stopped: %n file indexed</numerusform><numerusform>Stopped: %n files indexed</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="363" />
        <source>Done: %n file(s) indexed</source>
        <translation><numerusform>Done: %n file indexed</numerusform><numerusform>Done: %n files indexed</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="365" />
        <source>, %n could not be read</source>
        <translation><numerusform>, %n could not be read</numerusform><numerusform>, %n could not be read</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="395" />
        <source>%n result(s) for “%1”</source>
        <translation><numerusform>%n result for “%1”</numerusform><numerusform>%n results for “%1”</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="402" />
        <source>%n file(s) in folders that cannot be reached are left out</source>
        <translation><numerusform>%n file in folders that cannot be reached are left out</numerusform><numerusform>%n files in folders that cannot be reached are left out</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="435" />
        <source>%n file(s) in %1</source>
        <translation><numerusform>%n file in %1</numerusform><numerusform>%n files in %1</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="439" />
        <source>%n file(s) from %1</source>
        <translation><numerusform>%n file from %1</numerusform><numerusform>%n files from %1</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="478" />
        <source>Remove %n file(s) from the library…</source>
        <translation><numerusform>Remove %n file from the library…</numerusform><numerusform>Remove %n files from the library…</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="494" />
        <location filename="../../app/gui/main_window.py" line="546" />
        <source>Remove %n file(s) from the library?</source>
        <translation><numerusform>Remove %n file from the library?</numerusform><numerusform>Remove %n files from the library?</numerusform></translation>
    </message>
    <message>
        <location filename="../../app/gui/main_window.py" line="495" />
        <location filename="../../app/gui/main_window.py" line="547" />
        <source>The files on your disk are not touched.</source>
        <translation type="unfinished" />
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="513" />
        <source>⚠ %n file(s) could not be read — show</source>
        <translation><numerusform>⚠ %n file could not be read — show</numerusform><numerusform>⚠ %n files could not be read — show</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="564" />
        <source>%n error(s)</source>
        <translation><numerusform>%n error</numerusform><numerusform>%n errors</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/main_window.py" line="619" />
        <source>Re-embed the library's %n file(s) with %1 now? Names and faces stay; you can keep searching meanwhile.</source>
        <translation><numerusform>Re-embed the library's %n file with %1 now? Names and faces stay; you can keep searching meanwhile.</numerusform><numerusform>Re-embed the library's %n files with %1 now? Names and faces stay; you can keep searching meanwhile.</numerusform></translation>
    </message>
</context>
<context>
    <name>People</name>
    <message numerus="yes">
        <location filename="../../app/gui/people_panel.py" line="282" />
        <source>this unnamed person (%n photo(s))</source>
        <translation><numerusform>this unnamed person (%n photo)</numerusform><numerusform>this unnamed person (%n photos)</numerusform></translation>
    </message>
</context>
<context>
    <name>PeopleModel</name>
    <message numerus="yes">
        <location filename="../../app/gui/people_panel.py" line="76" />
        <source>%n face(s)</source>
        <translation><numerusform>%n face</numerusform><numerusform>%n faces</numerusform></translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/gui/people_panel.py" line="77" />
        <source>in %n file(s)</source>
        <translation><numerusform>in %n file</numerusform><numerusform>in %n files</numerusform></translation>
    </message>
</context>
</TS>