"""Error messages a user may see: the server's own paths never appear in them."""

from __future__ import annotations

from pathlib import Path


def public_message(error: Exception, upload: str | Path | None, hidden: list[Path]) -> str:
    """An error's text with the server's paths removed: the upload is named by its own file name.

    Gradio stores an upload as <temp>/<hash>/<original name>, so the last part is what the user
    uploaded; any other path under `hidden` (the work folder, the temp folder, the checkout) is
    dropped. The deepest folders go first: the checkout or the work folder may lie under the temp
    folder, and hiding the temp folder first would leave their inner paths readable.
    """
    text = str(error)
    if upload is not None:
        text = text.replace(str(upload), Path(upload).name)
    for folder in sorted({str(folder) for folder in hidden}, key=len, reverse=True):
        text = text.replace(folder, "<server>")
    return text
