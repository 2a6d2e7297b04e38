"""The start page: recently changed partners and the way to the lists."""

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose
from sqlalchemy import select

from app.extensions import db
from app.models import Partner


class HomeView(IndexView):
    index_template = "home.html"

    @expose("/")
    def index(self):
        from app.services.zone import is_zone_user

        if g.user is not None and g.user.is_authenticated and is_zone_user(g.user):
            return redirect(url_for("PortalView.index"))  # zone users live in the portal
        recent = []
        if (
            g.user is not None
            and g.user.is_authenticated
            and self.appbuilder.sm.has_access("can_read", "Partner")
        ):
            recent = db.session.scalars(
                select(Partner).order_by(Partner.updated_at.desc()).limit(10)
            ).all()
        return self.render_template(self.index_template, appbuilder=self.appbuilder, recent=recent)
