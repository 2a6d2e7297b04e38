"""Extension objects, unbound: create_app() binds them to an app."""

import logging
import smtplib

import flask_mail
from flask import current_app
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_migrate import Migrate
from flask_sqlalchemy.session import Session
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError


class SMTPConnection(flask_mail.Connection):
    """Flask-Mail's connection with MAIL_TIMEOUT on connecting and on every answer awaited
    (Flask-Mail opens smtplib.SMTP without one): a server that accepts and then says nothing
    costs one timeout, and smtplib closes the connection after it."""

    def configure_host(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = smtp(self.mail.server, self.mail.port, timeout=current_app.config["MAIL_TIMEOUT"])
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def __exit__(self, exc_type, exc_value, tb) -> None:
        if self.host is None or self.host.sock is None:  # closed after a timeout or a reset
            return
        try:
            self.host.quit()
        except smtplib.SMTPException:  # QUIT unanswered: what the server accepted stays sent
            self.host.close()


class Mail(flask_mail.Mail):
    def connect(self) -> SMTPConnection:
        return SMTPConnection(current_app.extensions["mail"])


def _tables(mapper) -> set[str]:
    return {table.name for table in inspect(mapper).tables}


class GuardedSession(Session):
    """Flask-SQLAlchemy's session; its legacy bulk_* methods skip every flush event, so they
    are held to the bulk rules of app/models/base.py like bulk statements are."""

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


# -- a request that only read ends its transaction with COMMIT --------------------------------

WROTE = "dossier_wrote"


def _begun(conn) -> None:
    conn.info.pop(WROTE, None)


# Statements that only read: a SELECT, and the planner's estimate of one (a filtered count).
READS = ("SELECT", "EXPLAIN (FORMAT JSON) SELECT")


def _statement(conn, cursor, statement, parameters, context, executemany) -> None:
    if not statement[:64].lstrip()[:28].upper().startswith(READS):
        conn.info[WROTE] = True  # anything else: the transaction may hold writes


def end_read_only_transactions(app) -> None:
    """On PostgreSQL a request whose transaction only read ends it with COMMIT, not with the
    ROLLBACK of the session's closing: psycopg forgets its prepared statements on every
    ROLLBACK, and with them the plans that PostgreSQL keeps for statements a connection runs
    again and again (planning the data sheet's partner, ten tables joined, took 0.8 ms of its
    0.9). A transaction that wrote anything (any statement but a SELECT, a flush, pending
    changes) or a request that failed still ends with ROLLBACK, as before."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "begin", _begun):
        event.listen(Engine, "begin", _begun)
        event.listen(Engine, "before_cursor_execute", _statement)

    @app.teardown_appcontext
    def commit_reads(error) -> None:
        if error is not None or not db.session.registry.has():
            return
        session = db.session()
        transaction = session.get_transaction()
        # Not begun, or spoilt by a failed flush (only a rollback ends that one).
        if transaction is None or not transaction.is_active:
            return
        if session.new or session.dirty or session.deleted:
            return
        connection = session.connection()
        if connection.dialect.name != "postgresql" or connection.info.get(WROTE):
            return
        # What was read stays readable after the context, as after the closing ROLLBACK.
        session.expire_on_commit = False
        try:
            session.commit()
        except SQLAlchemyError:  # a connection lost at the end: nothing was written
            logging.getLogger(__name__).warning("ending a read-only transaction failed")
            session.rollback()
