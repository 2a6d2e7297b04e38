"""Development entry point: `python app.py` serves create_app().

`flask --app app` and gunicorn ("app:create_app()") import the `app` package, which Python
prefers to this file of the same name.
"""

from app import create_app

if __name__ == "__main__":
    application = create_app()
    application.run(host=application.config["HOST"], port=application.config["PORT"])
