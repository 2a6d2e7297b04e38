"""Extension objects, unbound: create_app() binds them to an app."""

from flask_appbuilder.utils.legacy import get_sqla_class
from flask_mail import Mail
from flask_migrate import Migrate

db = get_sqla_class()()
migrate = Migrate()
mail = Mail()
