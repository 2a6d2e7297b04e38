"""Extension objects, unbound: create_app() binds them to an app."""

from flask_appbuilder.utils.legacy import get_sqla_class
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy.session import Session
from sqlalchemy import inspect


def _tables(mapper) -> set[str]:
    return {table.name for table in inspect(mapper).tables}


class GuardedSession(Session):
    """Flask-SQLAlchemy's session; its legacy bulk_* methods skip every flush event, so they
    are held to the bulk rules of app/models.py like bulk statements are."""

    def bulk_save_objects(self, objects, *args, **kwargs):
        from app.models import changed_columns, refuse_bulk

        objects = list(objects)
        for obj in objects:
            state = inspect(obj)
            if state.key is None:
                refuse_bulk(_tables(state.mapper), "insert")
            else:
                refuse_bulk(_tables(state.mapper), "update", changed_columns(obj))
        return super().bulk_save_objects(objects, *args, **kwargs)

    def bulk_insert_mappings(self, mapper, mappings, *args, **kwargs):
        from app.models import refuse_bulk

        refuse_bulk(_tables(mapper), "insert")
        return super().bulk_insert_mappings(mapper, mappings, *args, **kwargs)

    def bulk_update_mappings(self, mapper, mappings, *args, **kwargs):
        from app.models import refuse_bulk

        mappings = list(mappings)
        refuse_bulk(_tables(mapper), "update", {str(key) for row in mappings for key in row})
        return super().bulk_update_mappings(mapper, mappings, *args, **kwargs)


db = get_sqla_class()(session_options={"class_": GuardedSession})
migrate = Migrate()
mail = Mail()
