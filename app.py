"""Development entry point: `python app.py` serves create_app().

The `app/` package shadows this file on import, so WSGI servers use "app:create_app()".
"""

import importlib.util
import sys
from pathlib import Path

if __name__ == "__main__":
    root = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        "app", root / "app" / "__init__.py", submodule_search_locations=[str(root / "app")]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["app"] = package
    spec.loader.exec_module(package)
    app = package.create_app()
    app.run(host=app.config["HOST"], port=app.config["PORT"])
