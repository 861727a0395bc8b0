"""``python -m msglance ...``: the same as the ``msglance`` command (e.g.
``python -m msglance --version``); needs the ``cli`` extra."""

from msglance.extras import require

if __name__ == "__main__":
    require("typer", "cli")
    from msglance.cli import app

    app(prog_name="msglance")
